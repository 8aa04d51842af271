"""A starting declaration from one sample response: where its records are, their columns and
types (``infer``), a key, and what to check, as ``Note``s.

What a sample cannot say is left for the user and said so: pagination (declared ``single``,
with a warning naming any paging hint the body carries), auth (none), and whether the key
the sample suggests is the API's. Columns whose values clash in the sample are declared with
a type that takes them all (``text``, or ``json`` if one was an object or a list), and said.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tributary.schema.infer import Inference, InferredColumn
from tributary.sources.identifiers import identifier
from tributary.sources.openapi import Note
from tributary.sources.openapi.names import norm, rank_in
from tributary.sources.openapi.paging import (
    HAS_MORE_FIELDS,
    NEXT_CURSOR_FIELDS,
    NEXT_URL_FIELDS,
    RECORD_FIELDS,
    TOTAL_PAGES_FIELDS,
)
from tributary.sources.spec import ColumnType

# Members whose presence says the listing pages (a declaration of `single` would stop early):
# the names the OpenAPI reader knows, compared as it compares them (``norm``).
_PAGING_HINTS = frozenset((*NEXT_CURSOR_FIELDS, *HAS_MORE_FIELDS, *NEXT_URL_FIELDS,
                           *TOTAL_PAGES_FIELDS, "links", "paging", "pagination", "pageinfo",
                           "cursors", "offset"))
_KEY_NAMES = ("id", "uuid", "key", "guid", "code", "slug")


class SampleError(ValueError):
    """The sample holds no list of records."""


def find_records(body: Any) -> tuple[str, list[Mapping[str, Any]]]:
    """The records path (``''`` for a bare list) and the records: the list of objects under
    the best-named member (the names the OpenAPI reader takes for records), else the
    longest, at most three levels down."""
    if isinstance(body, list):
        records = [r for r in body if isinstance(r, Mapping)]
        if records:
            return "", records
        raise SampleError("the sample is a list, but not of objects")
    found: list[tuple[int, int, tuple[str, ...], list[Mapping[str, Any]]]] = []

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                found.append((rank_in(str(key), RECORD_FIELDS), -len(value), here, value))
            elif isinstance(value, Mapping) and len(here) < 3:
                walk(value, here)

    if isinstance(body, Mapping):
        walk(body, ())
    if not found:
        raise SampleError("no list of objects in the sample (at most three levels down)")
    _, _, path, records = min(found, key=lambda f: (f[0], f[1], len(f[2])))
    return ".".join(path), records


def _paging_hints(body: Any, records_path: str) -> list[str]:
    if not isinstance(body, Mapping):
        return []
    top = records_path.split(".")[0] if records_path else None
    hints = []
    for key, value in body.items():
        if key != top and norm(str(key)) in _PAGING_HINTS and value not in (None, False, ""):
            hints.append(str(key))
    return hints


def _key(columns: list[InferredColumn], records: list[Mapping[str, Any]]) -> str | None:
    """A scalar column that is present, non-null and distinct in every sampled record."""
    def distinct(c: InferredColumn) -> bool:
        values = []
        for r in records:
            node: Any = r
            for part in c.path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if node is None or isinstance(node, (dict, list)):
                return False
            values.append(node)
        return len(set(map(str, values))) == len(values)

    candidates = [c for c in columns if c.type in ("bigint", "text") and not c.variants]
    named = sorted((c for c in candidates if norm(c.name) in _KEY_NAMES),
                   key=lambda c: _KEY_NAMES.index(norm(c.name)))
    ends = [c for c in candidates if c.name.endswith("_id") and len(c.path) == 1]
    for c in [*named, *ends]:
        if distinct(c):
            return c.name
    return None


def _declared_type(c: InferredColumn, notes: list[Note], stream: str) -> ColumnType:
    if not c.variants:
        return c.type
    kinds = {c.type, *c.variants}
    wide: ColumnType = "json" if "json" in kinds else "text"
    said = ", ".join(f"{n} {t}" for t, n in sorted(c.variants.items()))
    notes.append(Note("warning", stream, f"column {c.name}: mostly {c.type}, but {said} in "
                      f"the sample; declared {wide}, which takes them all"))
    return wide


def declaration_from_sample(body: Any, name: str, url: str) -> tuple[dict[str, Any],
                                                                    list[Note]]:
    """The declaration (a dict ``spec.Source`` validates) for the listing at ``url`` whose
    answer was ``body``, and notes on what was guessed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SampleError(f"{url!r} is no http(s) URL: give the URL the sample came from")
    records_path, records = find_records(body)
    inference = Inference().add_all(records)
    segments = [s for s in parts.path.split("/") if s and "{" not in s]
    stream = identifier(segments[-1] if segments else name, "records")
    notes = [Note("guess", stream, f"records at {records_path or 'the top (a bare list)'}: "
                  f"{len(records)} in the sample, {len(inference.columns)} fields")]
    columns: dict[str, dict[str, Any]] = {}
    for c in inference.columns:
        spec: dict[str, Any] = {"type": _declared_type(c, notes, stream)}
        if c.source != c.name:
            spec["from"] = c.source
        columns[c.name] = spec
    key = _key(inference.columns, records)
    if key is None:
        key = inference.columns[0].name
        notes.append(Note("warning", stream, f"no field was present and distinct in every "
                          f"sampled record; {key} is a placeholder key: declare the real one"))
    else:
        notes.append(Note("guess", stream, f"primary key {key}: present and distinct in "
                          "every sampled record"))
    columns[key]["required"] = True
    hints = _paging_hints(body, records_path)
    notes.append(Note("warning", stream, "pagination is declared single (one request): "
                      + (f"the body has {', '.join(hints)}, so it likely pages; "
                         if hints else "") + "declare how it pages if it does"))
    notes.append(Note("warning", "auth", "none declared: add the API's (see `auth` kinds in "
                      "the README)"))
    stamps = [c.name for c in inference.columns if c.type == "timestamp" and not c.variants]
    if stamps:
        notes.append(Note("guess", stream, f"timestamps: {', '.join(stamps)} (read in every "
                          "form the timestamp reader takes, kept as UTC)"))
    params = dict(parse_qsl(parts.query))
    stream_doc: dict[str, Any] = {"name": stream, "endpoint": parts.path or "/"}
    if params:
        stream_doc["params"] = params
    stream_doc |= {"records_path": records_path, "primary_key": key,
                   "pagination": {"style": "single"}, "table": f"{name}_{stream}"[:63],
                   "columns": columns}
    declaration = {"name": name, "base_url": f"{parts.scheme}://{parts.netloc}",
                   "auth": {"kind": "none"}, "streams": [stream_doc]}
    return declaration, notes
