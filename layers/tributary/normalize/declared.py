"""A page of records -> typed columns, from a stream's declaration alone.

Each declared column reads a dotted path of the record (a rename when it differs from the
column's name) and is cast to its type by pydantic over the whole page; timestamps in any of
the accepted forms become UTC milliseconds in bulk. With ``keep_extra`` the undeclared fields
(less ``drop``) are kept as JSON. A stream may name its own function instead (``normalize``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ConfigDict, TypeAdapter, create_model

from tributary.normalize.base import Normalized, stamps, validate
from tributary.sources.keys import composite_key
from tributary.sources.spec import Stream

Normalizer = Callable[[list[Any]], Normalized]
PY_TYPES: dict[str, Any] = {"text": str, "bigint": int, "double": float, "boolean": bool,
                           "json": Any, "timestamp": int | float | str}
# Numbers are taken as text (an id sent as 7 one day and "7" the next is the same id).
LAX = ConfigDict(coerce_numbers_to_str=True)
_MISSING = object()


def _dig(record: dict[str, Any], path: list[str]) -> Any:
    node: Any = record
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class DeclaredNormalizer:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.paths = {name: (c.source or name).split(".") for name, c in stream.columns.items()}
        self.used = {p[0] for p in self.paths.values()} | set(stream.drop)
        self.kinds = {name: stream.stored_type(name) for name in stream.columns}
        py = {name: PY_TYPES[self.kinds[name]] for name in stream.columns}
        fields: dict[str, Any] = {
            name: (py[name], ...) if c.required else (py[name] | None, None)
            for name, c in stream.columns.items()}
        model = create_model(f"{stream.table}_row",
                             __config__=LAX, **fields)
        self.adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])

    def _flat(self, record: Any) -> Any:
        if not isinstance(record, dict):
            return record  # fails validation as "not a dictionary"
        out = {}
        for name, path in self.paths.items():
            value = _dig(record, path)
            if value is not _MISSING:
                out[name] = value
        return out

    def __call__(self, records: list[Any]) -> Normalized:
        key = self.stream.primary_key
        flat = [self._flat(r) for r in records]
        rows, keep, rejects = validate(self.adapter, flat, key, originals=records)
        ok = [True] * len(rows)
        times: dict[str, list[Any]] = {}
        for name, c in self.stream.columns.items():
            if self.kinds[name] == "timestamp":
                values = [getattr(r, name) for r in rows]
                ms, good = stamps(values, name, keep, flat, rejects, key,
                                  nullable=not c.required)
                times[name] = [None if v is None else int(m)
                               for v, m in zip(values, ms.tolist(), strict=True)]
                ok = [a and b for a, b in zip(ok, good.tolist(), strict=True)]
        good_rows = [(i, r) for i, r, g in zip(keep, rows, ok, strict=True) if g]
        columns: dict[str, Any] = {}
        for name in self.stream.columns:
            if self.kinds[name] == "timestamp":
                by_row = dict(zip(keep, times[name], strict=True))
                columns[name] = [by_row[i] for i, _ in good_rows]
            elif self.kinds[name] == "json":
                columns[name] = [_json(getattr(r, name)) for _, r in good_rows]
            else:
                columns[name] = [getattr(r, name) for _, r in good_rows]
        for r in rejects:  # the id read where the declaration says; the record as sent
            r.record = records[r.index]
        if isinstance(self.stream.primary_key, list):
            parts = [columns[k] for k in self.stream.primary_key]
            columns["_key"] = [composite_key(list(v)) for v in zip(*parts, strict=True)]
        if self.stream.keep_extra:
            columns["extra"] = [_json({k: v for k, v in records[i].items()
                                       if k not in self.used}) for i, _ in good_rows]
        return Normalized(columns, rejects)


def normalizer(stream: Stream) -> Normalizer:
    """The stream's hook, or its declaration's normalizer (kept with its table, by
    ``tables.table_for``)."""
    if stream.normalize:
        module, _, name = stream.normalize.partition(":")
        hook: Normalizer = getattr(importlib.import_module(module), name)
        return hook
    return DeclaredNormalizer(stream)
