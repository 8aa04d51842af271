"""Query: read-only SQL over the lake and PostgreSQL (see tributary.query.http)."""

from tributary.query.http import handler  # noqa: F401
