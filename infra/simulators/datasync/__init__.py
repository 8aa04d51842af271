"""The DataSync analytics events API (SPEC 4.1)."""
