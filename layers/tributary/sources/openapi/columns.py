"""Columns and the primary key, from the properties of a listing's items.

**primary_key**: ``id``; else ``<resource>_id`` (``order_id`` for ``/orders``); else the
first required string or integer property named like an id. None: left out.

**columns**, from the item schema's properties: integer -> bigint, number -> double,
boolean, a string of format date-time or date (or a number of format unix-time) ->
timestamp, object and array -> json (``a.b`` is kept whole, never flattened), any other
string -> text; a value of any type (no schema) -> json. Names become identifiers
(``createdAt`` -> ``created_at``, ``from: createdAt``). Only the key is required.
"""

from __future__ import annotations

import re
from typing import Any

from tributary.sources.openapi.document import (
    NoteKind,
    ReaderPart,
    Unresolved,
    as_map,
    as_seq,
    is_null,
    json_types,
)
from tributary.sources.openapi.names import identifier, norm, singular_of, unique

COLUMN_TYPES = ("text", "bigint", "double", "boolean", "timestamp", "json")


def _key_note(prop: str, column_of: dict[str, str], why: str) -> str:
    column = column_of[prop]
    return f"primary key: {column} ({why}" + ("" if column == prop else f"; from {prop}") + ")"


class Columns(ReaderPart):
    """The reader's part that makes columns of an item schema and picks its key."""

    def column_type(self, raw: Any, depth: int = 0) -> str:
        try:
            s = self.refs.schema(raw)
        except Unresolved:
            return "json"
        types = json_types(s)
        fmt = str(s.get("format", "")).lower()
        if not types:
            members = s.get("oneOf") or s.get("anyOf")
            if isinstance(members, list) and members and depth < 4:
                return self._one_of({self.column_type(m, depth + 1) for m in members
                                     if not is_null(self.quiet_schema(m))})
            if "properties" in s or "additionalProperties" in s or "items" in s:
                return "json"
            if norm(fmt) in ("datetime", "date"):
                return "timestamp"
            if "enum" in s or "format" in s or "pattern" in s or "maxLength" in s:
                return "text"
            return "json"  # any value at all: kept whole
        if len(types) > 1:
            return self._one_of({self.column_type({**s, "type": t}, depth + 1) for t in types})
        t = types[0]
        if t in ("integer", "number") and fmt in ("unix-time", "unixtime", "timestamp"):
            return "timestamp"
        if t == "string" and norm(fmt) in ("datetime", "date"):
            return "timestamp"
        return {"integer": "bigint", "number": "double", "boolean": "boolean",
                "object": "json", "array": "json"}.get(t, "text")

    @staticmethod
    def _one_of(kinds: set[str]) -> str:
        if len(kinds) == 1:
            return next(iter(kinds))
        if kinds and kinds <= {"bigint", "double"}:
            return "double"
        return "json" if "json" in kinds or not kinds else "text"

    def columns(self, item: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str],
                                                     list[tuple[str, str]], list[str]]:
        """Columns from the item's properties; property -> column; the renamed; the left out."""
        columns: dict[str, dict[str, Any]] = {}
        column_of: dict[str, str] = {}
        renamed: list[tuple[str, str]] = []
        dropped: list[str] = []
        taken: set[str] = set()
        for prop, raw in as_map(item.get("properties")).items():
            prop = str(prop)
            s = self.quiet_schema(raw)
            if s.get("writeOnly") is True:
                continue
            if "." in prop or not prop.strip():
                dropped.append(prop)
                continue
            name = unique(identifier(prop, "f"), taken)
            column: dict[str, Any] = {}
            kind = self.column_type(raw)
            if kind != "text":
                column["type"] = kind
            if name != prop:
                column["from"] = prop
                renamed.append((prop, name))
            columns[name] = column
            column_of[prop] = name
        return columns, column_of, renamed, dropped

    def primary_key(self, item: dict[str, Any], resource: str, column_of: dict[str, str],
                    notes: list[tuple[NoteKind, str]]) -> str | None:
        props = as_map(item.get("properties"))
        if "id" in props and "id" in column_of:
            return "id"
        singular = norm(singular_of(resource))
        for prop in props:
            if prop in column_of and singular and norm(prop) == singular + "id":
                notes.append(("guess", _key_note(prop, column_of, "no id field; named after "
                                                                  "the resource")))
                return column_of[prop]
        for prop in as_seq(item.get("required")):
            if not isinstance(prop, str) or prop not in column_of or not re.search(
                    r"(^|_)(id|uuid|guid)$|[a-z0-9](Id|ID|Uuid|UUID)$|^(ID|Id|uuid|guid)$",
                    str(prop)):
                continue
            types = json_types(self.quiet_schema(props.get(prop)))
            if not types or set(types) & {"string", "integer"}:
                notes.append(("guess", _key_note(prop, column_of, "the first required field "
                                                                  "named like an id: check it "
                                                                  "is unique")))
                return column_of[prop]
        return None
