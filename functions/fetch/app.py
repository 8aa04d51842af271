"""Fetch: pull upstream pages into the raw zone, checkpointed (see tributary.extract.fetch)."""

from tributary.extract.fetch import handler  # noqa: F401
