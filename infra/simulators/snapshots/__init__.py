"""The snapshots simulator (SPEC 4.3)."""
