"""Viewer: the live viewer's static site (built from viewer/ into site/ beside this file)."""

from pathlib import Path
from typing import Any

from tributary.api.site import respond

SITE = Path(__file__).resolve().parent / "site"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return respond(SITE, "/viewer", event)
