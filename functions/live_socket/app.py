"""The WebSocket API subscribers connect to: $connect, $disconnect, subscribe
(see tributary.live.socket_api)."""

from tributary.live.socket_api import handler  # noqa: F401
