"""Control: the sources over HTTP (see tributary.control.api)."""

from typing import Any

from tributary.control.api import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
