"""A record's key as a table keeps it: one column's value as text, or a composite key's
values as a JSON array of text (the ``_key`` column). Light on purpose: the fetch function
(a zip without numpy) reads keys too."""

from __future__ import annotations

from typing import Any

import orjson

Key = str | list[str]  # a column, or a composite key's columns


def record_id(record: Any, key: Key = "id") -> str | None:
    """The record's key as the table keeps it: the value as text, or for a composite key the
    JSON array of its values as text (the ``_key`` column)."""
    if not isinstance(record, dict):
        return None
    if isinstance(key, list):
        parts = [record.get(k) for k in key]
        return None if any(v is None for v in parts) else composite_key(parts)
    return str(record.get(key)) if record.get(key) is not None else None


def composite_key(parts: list[Any]) -> str:
    return orjson.dumps([str(v) for v in parts]).decode()
