"""Webhook flush: move kept events to the lake as batches appended to its Delta table
(see tributary.webhook.flush)."""

from tributary.webhook.flush import handler  # noqa: F401
