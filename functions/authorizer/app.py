"""Authorizer: a bearer token on every HTTP route but the webhook (see tributary.api)."""

from typing import Any

from tributary.api.authorizer import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
