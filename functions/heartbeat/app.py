"""Scheduled heartbeat: lands a raw object and queues a message (see tributary.heartbeat)."""

from tributary.heartbeat import emit as handler  # noqa: F401
