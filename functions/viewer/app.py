"""Viewer: the live viewer's static site (built from viewer/ into site/ beside this file)
(see tributary.api.site)."""

from tributary.api.site import handler  # noqa: F401
