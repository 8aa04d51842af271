"""Live sources: keep an exact local copy of a table that broadcasts its changes."""
