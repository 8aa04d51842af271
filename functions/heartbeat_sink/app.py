"""Stores queued heartbeats in PostgreSQL (see tributary.heartbeat)."""

from tributary.heartbeat import sink as handler  # noqa: F401
