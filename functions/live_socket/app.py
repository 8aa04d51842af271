"""The WebSocket API subscribers connect to: $connect, $disconnect, subscribe."""

from typing import Any

from tributary.live.socket_api import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
