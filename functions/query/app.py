"""Query: read-only SQL over the lake and PostgreSQL (see tributary.query)."""

from typing import Any

from tributary.query.http import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
