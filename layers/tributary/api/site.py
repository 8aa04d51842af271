"""A static site from a function (the live viewer): files by path, a folder's own
``index.html`` (the API page), the single-page app's ``index.html`` for any other page, long
caching for content-hashed assets."""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path
from typing import Any

_TEXT = ("text/", "application/javascript", "application/json", "image/svg+xml")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The viewer function: the site built into ``site/`` of its own code folder (Lambda's
    ``LAMBDA_TASK_ROOT``), served under ``/viewer``."""
    return respond(Path(os.environ["LAMBDA_TASK_ROOT"]) / "site", "/viewer", event)


def respond(root: Path, base: str, event: dict[str, Any]) -> dict[str, Any]:
    if not (root / "index.html").is_file():
        return {"statusCode": 503, "headers": {"content-type": "text/plain"},
                "body": f"the site is not built: run `npm ci && npm run build` in viewer/ "
                        f"(expected {root}/index.html)"}
    raw = str(event.get("rawPath") or "/")
    rel = raw.removeprefix(base).lstrip("/")
    path = (root / rel).resolve()
    inside = path.is_relative_to(root.resolve())
    if rel and inside and (path / "index.html").is_file():  # a static page's folder
        if not raw.endswith("/"):  # its relative links need the slash
            return {"statusCode": 308, "headers": {"location": raw + "/"}, "body": ""}
        path = path / "index.html"
    if not rel or not inside or not path.is_file():
        if "." in rel.rsplit("/", 1)[-1]:  # a missing asset, not a page of the app
            return {"statusCode": 404, "headers": {"content-type": "text/plain"},
                    "body": f"no file {rel}"}
        path = root / "index.html"
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    cache = "public, max-age=31536000, immutable" if "/immutable/" in rel else "no-cache"
    data = path.read_bytes()
    text = kind.startswith(_TEXT)
    return {"statusCode": 200, "headers": {"content-type": kind, "cache-control": cache},
            "body": data.decode() if text else base64.b64encode(data).decode(),
            "isBase64Encoded": not text}
