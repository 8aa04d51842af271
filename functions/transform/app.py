"""Transform: raw pages -> PostgreSQL and the lake (see tributary.transform)."""

from tributary.transform import handler  # noqa: F401
