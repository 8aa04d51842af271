"""Reading a value out of a JSON document by a declaration's path.

- ``dig``: a dotted path (``pagination.nextCursor``); ``''`` is the document itself.
- ``RecordsPath``: a stream's ``records_path``, RFC 9535 JSONPath (jsonpath-rfc9535, which
  passes the whole compliance suite), compiled once per declaration. A path without ``$`` is
  read as ``$.`` + path (``data.items``), or ``$`` + path when it opens with a bracket
  (``[*]``); ``''`` is the document itself.

Which values are the records:

- a *singular* path (names and indexes only: ``data.items``, ``$.pages[0].rows``) selects the
  record list; its elements are the records. Nothing there, or no list, is ``None``: no
  record list (the page is not a page of this stream).
- any other path (a wildcard, filter, slice, union or descent in it) selects the records
  themselves, each node one record, in document order; a node that is a list gives its
  elements instead, so ``orders[*].lines`` gathers every order's lines, as
  ``orders[*].lines[*]`` does. When the path's singular beginning (``result.items`` of
  ``result.items[*].customer``) finds no object or list, it is ``None`` as above; past it,
  finding nothing is a page without records (a filter that matched none).
- records are objects: a path that selects no object on a page, only other values (strings,
  numbers, nulls, lists), does not fit the response; it raises ``NotRecords`` naming where,
  and the page is refused whole (the fetcher's NOT_RECORDS, the transform's BadPage). A
  non-object among objects (one null ``customer``) is that record's fault: it is selected,
  and the normalizer rejects it alone (the rejects table), as any record that does not fit.

Names and ``[*]`` (every path the declarations wrote before JSONPath, and the common case)
are walked here, without the library's per-node bookkeeping; they select exactly what the
library would (tests/unit/sources/test_paths.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import jsonpath_rfc9535 as jsonpath
from jsonpath_rfc9535.segments import JSONPathChildSegment, JSONPathSegment
from jsonpath_rfc9535.selectors import IndexSelector, NameSelector, WildcardSelector

WILDCARD = None  # a step of a walked path: a member name, or every child


class NotRecords(ValueError):
    """A records path selected values, and not one of them an object."""


def dig(body: Any, path: str) -> Any:
    node = body
    for part in path.split(".") if path else ():
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _steps(segments: tuple[JSONPathSegment, ...]) -> tuple[str | None, ...] | None:
    """The segments as walked steps, or None when one is more than a name or ``[*]``."""
    steps: list[str | None] = []
    for seg in segments:
        if type(seg) is not JSONPathChildSegment or len(seg.selectors) != 1:
            return None
        sel = seg.selectors[0]
        if isinstance(sel, NameSelector):
            steps.append(sel.name)
        elif isinstance(sel, WildcardSelector):
            steps.append(WILDCARD)
        else:
            return None
    return tuple(steps)


def _singular(seg: JSONPathSegment) -> bool:
    return type(seg) is JSONPathChildSegment and len(seg.selectors) == 1 and isinstance(
        seg.selectors[0], NameSelector | IndexSelector)


def _walk(body: Any, steps: tuple[str | None, ...]) -> list[Any]:
    nodes = [body]
    for step in steps:
        if step is WILDCARD:
            nodes = [x for n in nodes if isinstance(n, list | dict)
                     for x in (n.values() if isinstance(n, dict) else n)]
        else:
            nodes = [n[step] for n in nodes if isinstance(n, dict) and step in n]
    return nodes


@dataclass(frozen=True, eq=False)
class RecordsPath:
    """A compiled ``records_path``; ``select`` gives a page's records."""

    text: str  # as declared
    query: jsonpath.JSONPathQuery
    head: jsonpath.JSONPathQuery  # the singular beginning: the record list, or their container
    singular: bool  # the whole path is its beginning
    head_names: tuple[str, ...] | None  # the beginning as member names, walked here
    steps: tuple[str | None, ...] | None  # the whole path walked here; None: by the library

    def select(self, body: Any) -> list[Any] | None:
        """The records in ``body``; ``None`` when it has no record list where the path says.
        Raises ``NotRecords`` when there are records and none of them is an object."""
        head = self._head(body)
        records: list[Any] | None
        if self.singular:
            records = head if isinstance(head, list) else None
        elif isinstance(head, dict | list):
            records = [x for n in self._nodes(body) for x in (n if isinstance(n, list) else (n,))]
        else:
            records = None
        # Only a page without one object is refused: a few non-objects among records (a null
        # customer) are the records' fault, rejected one by one by the normalizer. And this
        # stops at the first object: no walk over a page of records.
        if records and not isinstance(records[0], dict) and not any(
                isinstance(r, dict) for r in records):
            raise NotRecords(self._not_records(body))
        return records

    def _head(self, body: Any) -> Any:
        """What the singular beginning selects; None for nothing, as for null."""
        if self.head_names is None:
            found = self.head.find(body)
            return found[0].value if found else None
        node = body  # the plain path's walk, as fast as before JSONPath
        for name in self.head_names:
            if not isinstance(node, dict):
                return None
            node = node.get(name)
        return node

    def _nodes(self, body: Any) -> list[Any]:
        return self.query.find(body).values() if self.steps is None else _walk(body, self.steps)

    def _not_records(self, body: Any) -> str:
        """Where the first non-object record is (an error's path: the library's locations)."""
        for node in self.query.find(body):
            found = [(f"{node.path()}[{i}]", x) for i, x in enumerate(node.value)] \
                if isinstance(node.value, list) else [(node.path(), node.value)]
            for where, value in found:
                if not isinstance(value, dict):
                    return (f"records_path {self.text!r} selects {_kind(value)} at {where}, "
                            "not an object: records are objects")
        return f"records_path {self.text!r} selects values that are not objects"


def _kind(value: Any) -> str:
    kind = next((k for t, k in _KINDS if isinstance(value, t)), "a value")
    text = repr(value)
    return kind if value is None else f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


# JSON's names for what a page can hold; bool before int, which it subclasses.
_KINDS: tuple[tuple[type, str], ...] = (
    (type(None), "null"), (bool, "a boolean"), (int, "a number"), (float, "a number"),
    (str, "a string"), (list, "a list"))


def _as_query(text: str) -> str:
    """Declarations wrote paths without ``$`` before JSONPath (``data.items``, ``''``)."""
    if text.startswith("$"):
        return text
    return "$" + text if not text or text.startswith("[") else "$." + text


@lru_cache(maxsize=1024)
def compile_records_path(text: str) -> RecordsPath:
    """``text`` compiled (once: declarations are validated, and pages selected, by the same
    object). Raises ``ValueError`` naming the character where it stops being JSONPath."""
    query_text = _as_query(text)
    try:
        query = jsonpath.compile(query_text)
    except jsonpath.JSONPathError as exc:
        # The library's position is in the query it read, which may have '$.' added.
        where = max(exc.token.index - (len(query_text) - len(text)), 0) + 1 if exc.token \
            else None
        at = "" if where is None else " at the end" if where > len(text) else \
            f" at character {where}"
        reason = exc.args[0] if exc.args else str(exc)
        raise ValueError(f"{text!r} is not JSONPath (RFC 9535){at}: {reason}") from None
    segments = query.segments
    n = 0
    while n < len(segments) and _singular(segments[n]):
        n += 1
    steps = _steps(segments)
    head_names = _steps(segments[:n])
    return RecordsPath(text, query, jsonpath.JSONPathQuery(env=query.env, segments=segments[:n]),
                       singular=n == len(segments), steps=steps,
                       head_names=cast("tuple[str, ...] | None", head_names))


def records_at(body: Any, path: str | RecordsPath) -> list[Any] | None:
    """The records at ``path`` (see the module's docstring); ``None`` when there is no
    record list there."""
    compiled = path if isinstance(path, RecordsPath) else compile_records_path(path)
    return compiled.select(body)
