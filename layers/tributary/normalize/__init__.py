"""Normalize: validate records and bring timestamps and types to one form."""
