"""Webhook: validate pushed events and keep each once, durably (see tributary.webhook.handler)."""

from tributary.webhook.handler import handler  # noqa: F401
