"""The reader: which GET operations become streams, each read into a ``Candidate``.

**Streams**: one per GET operation whose 2xx JSON response is a list of objects, the body
itself (``records_path: ''``) or an array property of it, a level deep at most (``data``,
``result.items``; named like the resource, or data/items/results/records/..., first).
Left out: an operation with a required query, header or cookie parameter that is not a
page's (and has no default), one answering one object, and one whose path parameters no
listing declared before gives (see ``parents``).
"""

from __future__ import annotations

import re
from typing import Any

from tributary.sources.openapi.candidate import Candidate
from tributary.sources.openapi.columns import Columns
from tributary.sources.openapi.document import Note, NoteKind, Refs, Unresolved, as_map, as_seq
from tributary.sources.openapi.names import norm, records_path
from tributary.sources.openapi.paging import (
    CURSOR_PARAMS,
    LIMIT_PARAMS,
    OFFSET_PARAMS,
    PAGE_PARAMS,
    Paging,
)
from tributary.sources.openapi.parents import Parents
from tributary.sources.openapi.records import Records
from tributary.sources.openapi.security import Security


class Reader(Records, Paging, Columns, Security, Parents):
    """An OpenAPI document read for streams: ``candidate`` reads one GET operation, with the
    parts this is made of (records, pagination, columns and key, auth, parents)."""

    def __init__(self, doc: dict[str, Any], name: str) -> None:
        self.doc = doc
        self.name = name
        self.refs = Refs(doc)
        self.v2 = "swagger" in doc and "openapi" not in doc
        self.notes: list[Note] = []

    # -- parameters and responses ---------------------------------------------------------
    def parameters(self, path_item: dict[str, Any], op: dict[str, Any]
                   ) -> list[dict[str, Any]]:
        """The operation's parameters, the path's merged in (the operation's win)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*as_seq(path_item.get("parameters")), *as_seq(op.get("parameters"))]:
            p, _ = self.refs.deref(raw)
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                found[(str(p.get("in")), p["name"])] = p
        return list(found.values())

    def param_schema(self, p: dict[str, Any]) -> dict[str, Any]:
        """A parameter's schema (2.0 writes its type on the parameter itself)."""
        if "schema" in p:
            try:
                return self.refs.schema(p["schema"])
            except Unresolved:
                return {}
        return p

    def json_response(self, op: dict[str, Any]) -> tuple[dict[str, Any], Any, str] | str:
        """The success response, its JSON schema and status; or why there is none."""
        responses = {str(k): v for k, v in as_map(op.get("responses")).items()}
        codes = sorted(c for c in responses if re.fullmatch(r"2\d\d|2XX", c))
        code = "200" if "200" in codes else codes[0] if codes else \
            "default" if "default" in responses else None
        if code is None:
            return "no success (2xx) response"
        resp, _ = self.refs.deref(responses[code])
        if not isinstance(resp, dict):
            return f"its {code} response is not an object"
        if self.v2:
            produces = as_seq(op.get("produces") or self.doc.get("produces")) \
                or ["application/json"]
            if "schema" in resp and any("json" in str(m) for m in produces):
                return resp, resp["schema"], code
            return f"its {code} response has no JSON body"
        content = {str(k): v for k, v in as_map(resp.get("content")).items()}
        media = next((m for m in content if m.split(";")[0].strip() == "application/json"),
                     None) or next((m for m in content if "json" in m), None)
        if media is None or not isinstance(content[media], dict) \
                or "schema" not in content[media]:
            return f"its {code} response has no JSON body"
        return resp, content[media]["schema"], code

    def headers(self, resp: dict[str, Any]) -> dict[str, str]:
        """The response's headers: lower-case -> as written."""
        return {str(h).lower(): str(h) for h in as_map(resp.get("headers"))}

    # -- one operation ----------------------------------------------------------------------
    def candidate(self, order: int, path: str, path_item: dict[str, Any],
                  op: dict[str, Any]) -> Candidate | str:
        """A stream from one GET operation, or why there is none."""
        try:
            return self._candidate(order, path, path_item, op)
        except Unresolved as exc:
            return str(exc)

    def _candidate(self, order: int, path: str, path_item: dict[str, Any],
                   op: dict[str, Any]) -> Candidate | str:
        found = self.json_response(op)
        if isinstance(found, str):
            return found
        resp, raw_schema, code = found
        segments = [s for s in path.split("/") if s]
        resource = next((s for s in reversed(segments) if "{" not in s), "")
        records = self.records(raw_schema, resource)
        if isinstance(records, str):
            return records
        parts, body, item, others = records
        if parts is None:
            return "its items are no object (a list of values, not records)"
        notes: list[tuple[NoteKind, str]] = []
        if others:
            notes.append(("warning", f"its body holds other lists too ({', '.join(others)}): "
                                     "check which one holds the records"))
        params = self.parameters(path_item, op)
        query = {p["name"]: self.param_schema(p) for p in params if p.get("in") == "query"}
        paging = {n for n in query if norm(n) in CURSOR_PARAMS + LIMIT_PARAMS + OFFSET_PARAMS
                  + PAGE_PARAMS}
        fixed: dict[str, Any] = {}
        for p in params:
            where, pname = p.get("in"), p["name"]
            if where == "path" or not p.get("required") or pname in paging:
                continue
            if where in ("header", "cookie") and self.auth_param(where, pname):
                continue
            s = self.param_schema(p)
            value = s.get("default")
            enum = s.get("enum")
            if value is None and isinstance(enum, list) and len(enum) == 1:
                value = enum[0]
            if where == "query" and isinstance(value, str | int | float | bool):
                fixed[pname] = value
                whence = "default" if "default" in s else "only value"
                notes.append(("guess", f"the required parameter {pname} is sent as "
                                       f"{value!r} (its {whence})"))
                continue
            return f"it needs the {where} parameter {pname!r}, which cannot be guessed"
        columns, column_of, renamed, dropped = self.columns(item)
        if not columns:
            return "its items have no properties to make columns of"
        key_notes: list[tuple[NoteKind, str]] = []
        key = self.primary_key(item, resource, column_of, key_notes)
        if key is None:
            return "no property of its items looks like a key (id, <resource>_id)"
        key_field = next(p for p, c in column_of.items() if c == key)
        pagination, total = self.pagination(query, body, self.headers(resp), parts, notes,
                                            key_field)
        if total:
            notes.append(("guess", f"the upstream's count: {total} (total_path)"))
        notes += key_notes
        columns = {key: {**columns[key], "required": True},  # the key first, as people write
                   **{k: v for k, v in columns.items() if k != key}}
        if renamed:
            notes.append(("guess", "columns renamed to identifiers (from: keeps the field): "
                                   + ", ".join(f"{p} -> {c}" for p, c in renamed)))
        if dropped:
            notes.append(("warning", "fields left out (a '.' in a name cannot be a path): "
                                     + ", ".join(dropped)))
        responses = {str(k) for k in as_map(op.get("responses"))}
        return Candidate(
            order=order, path=path, segments=segments, item=item,
            records_path=records_path(parts), pagination=pagination, total_path=total,
            params=fixed, security=op.get("security"), has_404="404" in responses,
            columns=columns, column_of=column_of, key=key,
            key_type=columns[key].get("type", "text"),
            notes=[("guess", self._records_note(parts, code)), *notes])

    @staticmethod
    def _records_note(parts: tuple[str, ...], code: str) -> str:
        if not parts:
            return f"records: the {code} response's body, a list"
        return f"records: {records_path(parts)} (the list in the {code} response's body)"

    # -- base URL ---------------------------------------------------------------------------
    def server(self) -> tuple[str, str]:
        """The document's server URL (maybe relative), and where it was read."""
        if self.v2:
            host = self.doc.get("host")
            base = str(self.doc.get("basePath") or "")
            if not host:
                return base or "/", "basePath (no host)"
            schemes = [str(x) for x in as_seq(self.doc.get("schemes"))] or ["https"]
            scheme = "https" if "https" in schemes else str(schemes[0])
            return f"{scheme}://{host}{base}", "host and basePath"
        servers = as_seq(self.doc.get("servers"))
        if not servers or not isinstance(servers[0], dict) or "url" not in servers[0]:
            return "/", "no servers"
        url = str(servers[0]["url"])
        variables = as_map(servers[0].get("variables"))
        for var, spec in variables.items():
            if isinstance(spec, dict) and "default" in spec:
                url = url.replace("{" + str(var) + "}", str(spec["default"]))
        said = "servers[0]" + (f", {', '.join(sorted(map(str, variables)))} at the default"
                               if variables else "")
        return url, said
