"""Live rows: the live copy over HTTP, by keyset and histogram (see tributary.live.rows_api)."""

from typing import Any

from tributary.live.rows_api import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
