"""Catalog: the Glue Data Catalog kept describing the lake (see tributary.query.glue)."""

from tributary.query.glue import handler  # noqa: F401
