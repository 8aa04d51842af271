"""Columns and their types, inferred from records.

A value's type: a boolean is ``boolean``, an integer ``bigint``, any other number ``double``,
a string that reads as an instant ``timestamp`` (ISO-8601 / RFC 3339 with a date and a
time, or an HTTP date: the forms the project's timestamp reader takes; a numeric string or
an epoch number stays a number, as many are not instants), any other string ``text``, a list
``json``, and an object ``json`` too, or under ``nesting="flatten"`` its members as columns
``<field>__<member>`` (``max_depth`` levels deep; deeper objects stay ``json``). ``None`` says
nothing of a type.

Columns meet their records in the order they come: the first type a column sees is its type.
A later value of another type widens it where no value changes (``bigint`` -> ``double``),
and is otherwise a *variant* of the column, ``<column>__v_<type>``, which keeps the value
as it came (the column's own value is then null). Nothing is ever dropped, and a type is
never narrowed: the same records in the same order give the same schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from tributary.normalize.declared import LAX, PY_TYPES
from tributary.normalize.epoch import from_text, one_epoch_ms
from tributary.sources.identifiers import MAX_IDENTIFIER, identifier, unique
from tributary.sources.spec import ColumnType

Nesting = Literal["json", "flatten"]
# A date and a time, as ISO-8601 writes them; a bare date or a number is not taken for an
# instant (``2024`` and ``20240101`` are as likely counts or codes).
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_HTTP_DATE = re.compile(r"^[A-Z][a-z]{2},? ")
# Lossless widenings: a column of the key takes values of the types it lists.
_WIDENS: dict[ColumnType, frozenset[ColumnType]] = {"double": frozenset({"bigint"})}


def type_of(value: Any) -> ColumnType | None:
    """The column type a single value asks for (``None``: no value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "timestamp" if _instant(value) else "text"
    return "json"


def _instant(text: str) -> bool:
    return bool(_ISO_INSTANT.match(text) or _HTTP_DATE.match(text)) and \
        from_text(text) is not None


_ADAPTERS = {t: TypeAdapter(PY_TYPES[t], config=LAX) for t in PY_TYPES if t != "json"}


def _takes(declared: ColumnType, value: Any) -> bool:
    """Whether a declared column's normalizer reads ``value`` as its type (the same lax
    validation, and the timestamp reader)."""
    if declared == "json":
        return True
    if declared == "timestamp" and one_epoch_ms(value) is None:
        return False
    try:
        _ADAPTERS[declared].validate_python(value)
    except ValidationError:
        return False
    return True


def variant_name(column: str, type_: ColumnType) -> str:
    return f"{column}__v_{type_}"


@dataclass
class InferredColumn:
    name: str
    path: tuple[str, ...]  # members from the record down to the value
    type: ColumnType
    seen: int = 0  # records holding a value of the column's type
    nulls: int = 0  # records where the field was present and null
    variants: dict[ColumnType, int] = field(default_factory=dict)  # type -> records

    @property
    def source(self) -> str:
        return ".".join(self.path)


class Inference:
    """A schema that grows with every record ``add``ed; ``columns`` in first-seen order."""

    def __init__(self, nesting: Nesting = "json", max_depth: int = 2,
                 hints: Mapping[str, ColumnType] | None = None) -> None:
        self.nesting, self.max_depth = nesting, max_depth
        self.hints = dict(hints or {})  # column name -> a declared type, which wins
        self.records = 0
        self._by_path: dict[tuple[str, ...], InferredColumn] = {}
        self._names: set[str] = set()

    @property
    def columns(self) -> list[InferredColumn]:
        return list(self._by_path.values())

    def add_all(self, records: Iterable[Mapping[str, Any]]) -> Inference:
        for record in records:
            self.add(record)
        return self

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        for path, value in self._leaves(record, (), 0):
            self._meet(path, value)

    def _leaves(self, node: Mapping[str, Any], prefix: tuple[str, ...], depth: int
                ) -> Iterable[tuple[tuple[str, ...], Any]]:
        for key, value in node.items():
            path = (*prefix, str(key))
            if isinstance(value, Mapping) and self.nesting == "flatten" and \
                    depth < self.max_depth and value:
                yield from self._leaves(value, path, depth + 1)
            else:
                yield path, value

    def _meet(self, path: tuple[str, ...], value: Any) -> None:
        kind = type_of(value)
        column = self._by_path.get(path)
        if column is None:
            if kind is None:
                kind = "text"  # only nulls so far: the widest, until a value says otherwise
                column = self._new(path, kind)
                column.nulls += 1
                return
            column = self._new(path, kind)
        if kind is None:
            column.nulls += 1
        elif kind == column.type or kind in _WIDENS.get(column.type, ()) or (
                column.name in self.hints and _takes(column.type, value)):
            column.seen += 1
        elif column.seen == 0 and column.name not in self.hints:
            column.type, column.seen = kind, 1  # nulls alone chose nothing
        elif column.type in _WIDENS.get(kind, ()):
            column.type = kind  # widened: every value it held is still exact
            column.seen += 1
        else:
            column.variants[kind] = column.variants.get(kind, 0) + 1

    def _new(self, path: tuple[str, ...], kind: ColumnType) -> InferredColumn:
        joined = "__".join(identifier(p) for p in path)[:MAX_IDENTIFIER].rstrip("_")
        name = unique(joined, self._names)
        column = InferredColumn(name, path, self.hints.get(name, kind))
        self._by_path[path] = column
        return column
