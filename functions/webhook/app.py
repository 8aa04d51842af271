"""Webhook: validate pushed events and keep each once, durably (see tributary.webhook)."""

from typing import Any

from tributary.webhook.handler import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
