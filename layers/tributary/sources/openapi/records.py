"""Where a listing's records are in its response, and their schema."""

from __future__ import annotations

from typing import Any

from tributary.sources.openapi.document import (
    ReaderPart,
    as_map,
    as_seq,
    is_array,
    is_null,
    is_object,
)
from tributary.sources.openapi.names import norm, rank_in, records_path, singular_of
from tributary.sources.openapi.paging import META_FIELDS, RECORD_FIELDS


class Records(ReaderPart):
    """The reader's part that finds the records in a response (``records``)."""

    def records(self, raw: Any, resource: str) -> tuple[
            tuple[str, ...] | None, dict[str, Any], dict[str, Any], list[str]] | str:
        """Where a response's records are (member names; ``()``: the body), the body's
        schema, the records' schema, and the other lists beside them; or why it lists none."""
        body = self.refs.schema(raw)
        if not body:
            return "its response has no schema"
        if is_array(body):
            return self._items(body, (), body, [])
        if not is_object(body):
            return "its response is not a list of objects"
        if "id" in as_map(body.get("properties")):
            return "it answers one object (it has an id), not a list of them"
        found = self._arrays(body, resource)
        if not found:
            return "it answers one object, not a list of them (no list in it is a page's)"
        depth = min(len(path) for path, _ in found)

        def rank(path: tuple[str, ...]) -> int:
            return 0 if norm(path[-1]) == norm(resource) else \
                1 + rank_in(path[-1], RECORD_FIELDS)
        shallow = sorted((f for f in found if len(f[0]) == depth), key=lambda f: rank(f[0]))
        best = shallow[0]
        others = [records_path(p) for p, _ in shallow[1:]] \
            if rank(best[0]) > len(RECORD_FIELDS) else []
        return self._items(best[1], best[0], body, others)

    def _arrays(self, body: dict[str, Any], resource: str,
                depth: int = 2) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        """The lists of objects a body holds as a page of records: one named like records
        (data, items, ...) or like the resource, or the one list beside nothing but a page's
        fields (total, next, has_more, ...); else those of an object in it, one level down."""
        props = as_map(body.get("properties"))
        lists = [(str(name), s) for name, raw in props.items()
                 if is_array(s := self.quiet_schema(raw)) and self._objectish(s.get("items"))]
        own = (norm(resource), norm(singular_of(resource)))
        named: list[tuple[tuple[str, ...], dict[str, Any]]] = [
            ((n,), s) for n, s in lists if norm(n) in RECORD_FIELDS or norm(n) in own]
        if named:
            return named
        if len(lists) == 1 and all(norm(str(n)) in META_FIELDS
                                   for n in props if n != lists[0][0]):
            return [((lists[0][0],), lists[0][1])]
        if lists or depth <= 1:
            return []
        out: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        for name, raw in props.items():
            s = self.quiet_schema(raw)
            if is_object(s) and not is_array(s):
                out += [((str(name), *p), x) for p, x in self._arrays(s, resource, depth - 1)]
        return out


    def _objectish(self, raw: Any) -> bool:
        """Records are objects: a schema of one, or one of several (``oneOf``)."""
        s = self.quiet_schema(raw)
        if is_object(s):
            return True
        members = [self.quiet_schema(m) for m in as_seq(s.get("oneOf") or s.get("anyOf"))]
        members = [m for m in members if not is_null(m)]
        return bool(members) and all(is_object(m) for m in members)

    def _items(self, array: dict[str, Any], parts: tuple[str, ...], body: dict[str, Any],
               others: list[str]) -> tuple[
            tuple[str, ...] | None, dict[str, Any], dict[str, Any], list[str]] | str:
        item = self.refs.schema(array.get("items"))
        if not self._objectish(array.get("items")):
            if not item:
                return "its list's items have no schema"
            return None, body, item, others
        members = item.get("oneOf") or item.get("anyOf")
        if not item.get("properties") and isinstance(members, list):
            merged: dict[str, Any] = {"type": "object", "properties": {}}
            for m in members:
                merged["properties"].update(as_map(self.quiet_schema(m).get("properties")))
            item = merged
        return parts, body, item, others
