"""Control: the sources over HTTP (see tributary.control.api)."""

from tributary.control.api import handler  # noqa: F401
