"""Live: hold a source's change stream and keep its local copy exact (see tributary.live)."""

from tributary.live.consumer import handler  # noqa: F401
