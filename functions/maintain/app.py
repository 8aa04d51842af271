"""Maintain: the lake's upkeep on a schedule (see tributary.load.maintain)."""

from tributary.load.maintain import handler  # noqa: F401
