"""Authorizer: a bearer token on every HTTP route but the webhook (see tributary.api.authorizer)."""

from tributary.api.authorizer import handler  # noqa: F401
