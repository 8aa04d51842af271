"""Live rows: the live copy over HTTP, by keyset and histogram (see tributary.live.rows_api)."""

from tributary.live.rows_api import handler  # noqa: F401
