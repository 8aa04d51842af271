"""A starting source declaration from an OpenAPI document (3.0 and 3.1; Swagger 2.0 too).

``declaration_from_openapi(document, name)`` is a pure function: the document as JSON or YAML
gives it (a dict; ``load_document`` reads one) -> the declaration (a dict in the shape
``spec.Source`` validates, keys in the order a person writes them) and ``Note``s saying what
was guessed, what to check, and which operations were left out and why. ``render`` writes
both as YAML, the notes as comments. ``tributary sources new NAME --from-openapi FILE`` is
the command around them.

What is guessed, and from what:

- **Streams**: one per GET operation whose 2xx JSON response is a list of objects, the body
  itself (``records_path: ''``) or an array property of it, a level deep at most (``data``,
  ``result.items``; named like the resource, or data/items/results/records/..., first).
  Left out: an operation with a required query, header or cookie parameter that is not a
  page's (and has no default), one answering one object, and one whose path parameters no
  listing declared before gives (below).
- **Children**: ``/users/{user_id}/orders`` beside a ``/users`` listing (or, failing a
  listing at that path, one whose last segment is the one before the parameter, as
  ``/user/repos`` for ``/repos/{owner}/{repo}/issues``) is a child stream, its placeholders
  fields of the parent's record: one of the same name, the parent's key for ``{user_id}``,
  a name-like field (login, slug, name) for ``{repo}`` when the parent's key is a number, a
  nested one for an object (``owner.login``). The parent's key is copied into each record
  (``include``), and a documented 404 reads as no records.
- **Pagination**, from the query parameters, the response's fields and headers, in this
  order: a cursor parameter (cursor, starting_after, page_token, after, ...) with a
  next-cursor field -> ``cursor`` (``has_more`` too); with a cursor header ->
  ``header_cursor``; a ``Link`` response header -> ``header_link``; a next-page URL field
  (``next``, ``links.next``, HAL ``_links.next.href``) -> ``json_link``; a cursor parameter
  with only ``has_more``, or named for an id (Stripe's ``starting_after``) -> ``cursor`` with
  ``cursor_from_record`` (the last record's key); offset + limit -> ``offset``; page + a page
  size -> ``page_number``; else ``single``. The page size is the parameter's maximum, else
  its default, else 100.
- **primary_key**: ``id``; else ``<resource>_id`` (``order_id`` for ``/orders``); else the
  first required string or integer property named like an id. None: left out.
- **columns**, from the item schema's properties: integer -> bigint, number -> double,
  boolean, a string of format date-time or date (or a number of format unix-time) ->
  timestamp, object and array -> json (``a.b`` is kept whole, never flattened), any other
  string -> text; a value of any type (no schema) -> json. Names become identifiers
  (``createdAt`` -> ``created_at``, ``from: createdAt``). Only the key is required.
- **auth**, from the security the document requires (else the one scheme it defines):
  apiKey in a header, the query or a cookie -> ``header``, ``query``, ``cookie``; http bearer
  -> ``bearer``; http basic -> ``basic``; OAuth2 client credentials ->
  ``oauth2_client_credentials`` with its ``token_url``. Secrets are references to the
  environment, never values: ``${TRIBUTARY_<NAME>_API_KEY}`` (``_TOKEN``, ``_PASSWORD``,
  ``_CLIENT_SECRET``), as the shipped declarations' (the local stack passes only
  ``TRIBUTARY_`` variables to its functions). An operation requiring another scheme gets its
  own ``auth``.
- **base_url**: ``servers[0].url`` (its variables at their defaults); a relative one needs
  ``base_url`` given (``--base-url``).

``$ref``s are local (``#/...``); a loop of references is cut where it closes, and an operation
whose schema is nothing but a loop is left out, saying so.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import yaml

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")  # spec.Identifier's rule
MAX_IDENTIFIER = 48
COLUMN_TYPES = ("text", "bigint", "double", "boolean", "timestamp", "json")

NoteKind = Literal["guess", "warning", "skipped"]


class OpenAPIError(ValueError):
    """The document cannot give a declaration; the message says why."""


@dataclass(frozen=True)
class Note:
    """What was guessed (``guess``), what to check before use (``warning``), or an operation
    left out (``skipped``); ``subject`` is ``base_url``, ``auth``, a stream's name, or the
    operation (``GET /path``)."""

    kind: NoteKind
    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"


# -- names ---------------------------------------------------------------------------------

def _norm(name: str) -> str:
    """``next_cursor``, ``nextCursor`` and ``Next-Cursor`` alike: ``nextcursor``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def identifier(text: str, fallback: str = "x") -> str:
    """``text`` as a declaration's identifier: snake case, ``[a-z][a-z0-9_]*``, 48 at most."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", snake)
    snake = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    if not snake:
        snake = fallback
    if not snake[0].isalpha():
        snake = f"{fallback}_{snake}"
    return snake[:MAX_IDENTIFIER].rstrip("_")


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name = base[:MAX_IDENTIFIER - len(suffix)].rstrip("_") + suffix
        n += 1
    taken.add(name)
    return name


def _singular(word: str) -> str:
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return word[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 2:
        return word[:-1]
    return word


_SHORTHAND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _records_path(parts: tuple[str, ...]) -> str:
    """Member names as the JSONPath a declaration takes: ``data.items``, or in brackets."""
    if all(_SHORTHAND.match(p) for p in parts):
        return ".".join(parts)
    quoted = ("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in parts)
    return "$" + "".join(f"[{q}]" for q in quoted)


# -- reading the document ------------------------------------------------------------------

def load_document(text: str, where: str) -> dict[str, Any]:
    """An OpenAPI document's text (JSON or YAML) as a dict."""
    doc: Any = None
    if text.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None  # YAML's flow style starts so too
    if doc is None:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise OpenAPIError(f"{where}: neither JSON nor YAML: "
                               f"{' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or not ({"openapi", "swagger"} & set(doc)):
        raise OpenAPIError(f"{where}: not an OpenAPI document (no 'openapi: 3.x' or "
                           "'swagger: \"2.0\"' at its top level)")
    return doc


def describe(doc: dict[str, Any]) -> str:
    """``Title version (OpenAPI 3.1.0)``, from the document's ``info``."""
    info = doc.get("info")
    if not isinstance(info, dict):
        info = {}
    title = " ".join(str(x) for x in (info.get("title"), info.get("version")) if x)
    kind = f"OpenAPI {doc['openapi']}" if "openapi" in doc else f"Swagger {doc.get('swagger')}"
    return f"{title} ({kind})" if title else kind


class _Unresolved(Exception):
    """A ``$ref`` that cannot be followed; the message says which and why."""


class _Refs:
    """Local ``$ref``s (JSON pointers into the document), and schemas with ``allOf`` merged."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise _Unresolved(f"$ref {ref!r} is in another document (only #/... is followed)")
        node: Any = self.doc
        for raw in ref[1:].split("/")[1:]:
            key = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise _Unresolved(f"$ref {ref!r} points at nothing in the document")
        return node

    def deref(self, node: Any) -> tuple[Any, tuple[str, ...]]:
        """``node`` with its ``$ref``s followed, and the references followed."""
        chain: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in chain:
                raise _Unresolved("$ref " + " -> ".join([*chain, ref]) + " is a loop")
            chain.append(ref)
            node = self.pointer(ref)
        return node, tuple(chain)

    def schema(self, node: Any, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """The schema ``node`` is, references followed and ``allOf`` merged into one
        (properties and required joined). A reference back into ``stack`` (the schemas being
        merged) adds nothing: a cycle closes there."""
        target, refs = self.deref(node)
        if set(refs) & set(stack) or not isinstance(target, dict):
            return {}
        stack = stack + refs
        parts = target.get("allOf")
        if not isinstance(parts, list):
            return target
        own = {k: v for k, v in target.items() if k != "allOf"}
        merged: dict[str, Any] = dict(own)
        props: dict[str, Any] = {}
        required: list[str] = []
        for part in [*parts, own]:
            sub = self.schema(part, stack)
            for k, v in sub.items():
                if k == "properties" and isinstance(v, dict):
                    props.update(v)
                elif k == "required" and isinstance(v, list):
                    required += [r for r in v if r not in required]
                elif k not in merged:
                    merged[k] = v
        if props:
            merged["properties"] = props
        if required:
            merged["required"] = required
        return merged


def _map(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (a document may say anything)."""
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _types(s: dict[str, Any]) -> list[str]:
    """The JSON types a schema names (3.1's lists and 3.0's single), ``null`` left out."""
    t = s.get("type")
    types = [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] \
        if isinstance(t, list) else []
    return [x for x in types if x != "null"]


def _is_array(s: dict[str, Any]) -> bool:
    types = _types(s)
    return "array" in types if types else "items" in s


def _is_object(s: dict[str, Any]) -> bool:
    types = _types(s)
    return "object" in types if types else "properties" in s


def _is_null(s: dict[str, Any]) -> bool:
    return s.get("type") in ("null", ["null"]) or s.get("enum") == [None]


# -- pagination: the names that say it ------------------------------------------------------

CURSOR_PARAMS = ("cursor", "startingafter", "pagetoken", "after", "nexttoken",
                 "continuationtoken", "continuation", "paginationtoken", "pagecursor",
                 "startcursor", "nextcursor", "nextpagetoken", "marker")
LIMIT_PARAMS = ("limit", "perpage", "pagesize", "size", "count", "maxresults", "top",
                "pagelimit", "take", "maxitems")
OFFSET_PARAMS = ("offset", "skip", "start", "startindex")
PAGE_PARAMS = ("page", "pagenumber", "pageno", "pagenum", "pageindex")
AFTER_ID_PARAMS = ("startingafter", "after", "afterid", "sinceid", "lastid", "startafter")
NEXT_CURSOR_FIELDS = ("nextcursor", "cursor", "nextpagetoken", "nexttoken", "endcursor",
                      "nextpagecursor", "continuationtoken", "nextcontinuationtoken",
                      "nextmarker", "after")
HAS_MORE_FIELDS = ("hasmore", "hasnext", "hasnextpage", "more", "hasmoreitems",
                   "hasmorepages", "moreresults")
NEXT_URL_FIELDS = ("next", "nexturl", "nextlink", "nextpageurl", "nexthref")
TOTAL_PAGES_FIELDS = ("totalpages", "pagecount", "numpages", "lastpage", "pages")
TOTAL_FIELDS = ("total", "totalcount", "count", "totalresults", "totalitems",
                "totalrecords", "totalentries", "totalsize")
RECORD_FIELDS = ("data", "items", "results", "records", "entries", "values", "list",
                 "content", "rows", "objects", "elements", "hits", "resources", "members")
# What a page says beside its records: an object holding one list and only these is a page.
META_FIELDS = frozenset((*NEXT_CURSOR_FIELDS, *HAS_MORE_FIELDS, *NEXT_URL_FIELDS,
                         *TOTAL_PAGES_FIELDS, *TOTAL_FIELDS, *PAGE_PARAMS, *LIMIT_PARAMS,
                         *OFFSET_PARAMS, "previous", "prev", "prevcursor", "previouscursor",
                         "first", "last", "self", "links", "paging", "pagination", "meta",
                         "metadata", "object", "url", "kind", "status", "success", "ok",
                         "message", "etag", "incompleteresults", "nextpage", "nextoffset",
                         "nextpagenumber", "cursors", "requestid", "took", "timedout"))
NAME_FIELDS = ("login", "username", "handle", "slug", "name", "key")
LOGIN_PARAMS = ("username", "login", "userlogin", "handle", "screenname")


def _key_note(prop: str, column_of: dict[str, str], why: str) -> str:
    column = column_of[prop]
    return f"primary key: {column} ({why}" + ("" if column == prop else f"; from {prop}") + ")"


def _rank(name: str, names: tuple[str, ...]) -> int:
    n = _norm(name)
    return names.index(n) if n in names else len(names)


@dataclass
class _Field:
    """A scalar or object field of a response body outside its records: its dotted path."""

    path: tuple[str, ...]
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def typed(self, *types: str) -> bool:
        """Its type is one of ``types`` (or it says none)."""
        own = _types(self.schema)
        return not own or bool(set(own) & set(types))


@dataclass
class _Candidate:
    """A GET operation that lists records, before it has a name and a parent."""

    order: int
    path: str
    segments: list[str]
    item: dict[str, Any]
    records_path: str
    pagination: dict[str, Any]
    total_path: str | None
    params: dict[str, Any]
    security: list[Any] | None
    has_404: bool
    columns: dict[str, dict[str, Any]]
    column_of: dict[str, str]  # property -> column
    key: str
    key_type: str
    notes: list[tuple[NoteKind, str]] = field(default_factory=list)
    name: str = ""
    parent: _Candidate | None = None
    parent_params: dict[str, str] = field(default_factory=dict)
    include: dict[str, str] = field(default_factory=dict)
    table: str = ""
    parent_how: str = ""  # how the parent was found, when not at the path above

    @property
    def op(self) -> str:
        return f"GET {self.path}"

    @property
    def static(self) -> list[str]:
        return [s for s in self.segments if "{" not in s]

    @property
    def resource(self) -> str:
        return self.static[-1] if self.static else ""

    @property
    def placeholders(self) -> list[str]:
        return re.findall(r"{([^}]+)}", self.path)

    @property
    def key_prop(self) -> str:
        """The key's field in a record (the key column may be renamed)."""
        return next((p for p, c in self.column_of.items() if c == self.key), self.key)


_VERSION_SEGMENT = re.compile(r"^(v\d+(\.\d+)*|api|rest)$", re.IGNORECASE)


class _Reader:
    def __init__(self, doc: dict[str, Any], name: str) -> None:
        self.doc = doc
        self.name = name
        self.refs = _Refs(doc)
        self.v2 = "swagger" in doc and "openapi" not in doc
        self.notes: list[Note] = []

    # -- parameters and responses ---------------------------------------------------------
    def parameters(self, path_item: dict[str, Any], op: dict[str, Any]
                   ) -> list[dict[str, Any]]:
        """The operation's parameters, the path's merged in (the operation's win)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*_seq(path_item.get("parameters")), *_seq(op.get("parameters"))]:
            p, _ = self.refs.deref(raw)
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                found[(str(p.get("in")), p["name"])] = p
        return list(found.values())

    def param_schema(self, p: dict[str, Any]) -> dict[str, Any]:
        """A parameter's schema (2.0 writes its type on the parameter itself)."""
        if "schema" in p:
            try:
                return self.refs.schema(p["schema"])
            except _Unresolved:
                return {}
        return p

    def json_response(self, op: dict[str, Any]) -> tuple[dict[str, Any], Any, str] | str:
        """The success response, its JSON schema and status; or why there is none."""
        responses = {str(k): v for k, v in _map(op.get("responses")).items()}
        codes = sorted(c for c in responses if re.fullmatch(r"2\d\d|2XX", c))
        code = "200" if "200" in codes else codes[0] if codes else \
            "default" if "default" in responses else None
        if code is None:
            return "no success (2xx) response"
        resp, _ = self.refs.deref(responses[code])
        if not isinstance(resp, dict):
            return f"its {code} response is not an object"
        if self.v2:
            produces = _seq(op.get("produces") or self.doc.get("produces")) or ["application/json"]
            if "schema" in resp and any("json" in str(m) for m in produces):
                return resp, resp["schema"], code
            return f"its {code} response has no JSON body"
        content = {str(k): v for k, v in _map(resp.get("content")).items()}
        media = next((m for m in content if m.split(";")[0].strip() == "application/json"),
                     None) or next((m for m in content if "json" in m), None)
        if media is None or not isinstance(content[media], dict) \
                or "schema" not in content[media]:
            return f"its {code} response has no JSON body"
        return resp, content[media]["schema"], code

    def headers(self, resp: dict[str, Any]) -> dict[str, str]:
        """The response's headers: lower-case -> as written."""
        return {str(h).lower(): str(h) for h in _map(resp.get("headers"))}

    # -- one operation ----------------------------------------------------------------------
    def candidate(self, order: int, path: str, path_item: dict[str, Any],
                  op: dict[str, Any]) -> _Candidate | str:
        """A stream from one GET operation, or why there is none."""
        try:
            return self._candidate(order, path, path_item, op)
        except _Unresolved as exc:
            return str(exc)

    def _candidate(self, order: int, path: str, path_item: dict[str, Any],
                   op: dict[str, Any]) -> _Candidate | str:
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
        paging = {n for n in query if _norm(n) in CURSOR_PARAMS + LIMIT_PARAMS + OFFSET_PARAMS
                  + PAGE_PARAMS}
        fixed: dict[str, Any] = {}
        for p in params:
            where, pname = p.get("in"), p["name"]
            if where == "path" or not p.get("required") or pname in paging:
                continue
            if where in ("header", "cookie") and self._auth_param(where, pname):
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
        responses = {str(k) for k in _map(op.get("responses"))}
        return _Candidate(
            order=order, path=path, segments=segments, item=item,
            records_path=_records_path(parts), pagination=pagination, total_path=total,
            params=fixed, security=op.get("security"), has_404="404" in responses,
            columns=columns, column_of=column_of, key=key,
            key_type=columns[key].get("type", "text"),
            notes=[("guess", self._records_note(parts, code)), *notes])

    @staticmethod
    def _records_note(parts: tuple[str, ...], code: str) -> str:
        if not parts:
            return f"records: the {code} response's body, a list"
        return f"records: {_records_path(parts)} (the list in the {code} response's body)"

    def records(self, raw: Any, resource: str) -> tuple[
            tuple[str, ...] | None, dict[str, Any], dict[str, Any], list[str]] | str:
        """Where a response's records are (member names; ``()``: the body), the body's
        schema, the records' schema, and the other lists beside them; or why it lists none."""
        body = self.refs.schema(raw)
        if not body:
            return "its response has no schema"
        if _is_array(body):
            return self._items(body, (), body, [])
        if not _is_object(body):
            return "its response is not a list of objects"
        if "id" in _map(body.get("properties")):
            return "it answers one object (it has an id), not a list of them"
        found = self._arrays(body, resource)
        if not found:
            return "it answers one object, not a list of them (no list in it is a page's)"
        depth = min(len(path) for path, _ in found)

        def rank(path: tuple[str, ...]) -> int:
            return 0 if _norm(path[-1]) == _norm(resource) else \
                1 + _rank(path[-1], RECORD_FIELDS)
        shallow = sorted((f for f in found if len(f[0]) == depth), key=lambda f: rank(f[0]))
        best = shallow[0]
        others = [_records_path(p) for p, _ in shallow[1:]] \
            if rank(best[0]) > len(RECORD_FIELDS) else []
        return self._items(best[1], best[0], body, others)

    def _arrays(self, body: dict[str, Any], resource: str,
                depth: int = 2) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        """The lists of objects a body holds as a page of records: one named like records
        (data, items, ...) or like the resource, or the one list beside nothing but a page's
        fields (total, next, has_more, ...); else those of an object in it, one level down."""
        props = _map(body.get("properties"))
        lists = [(str(name), s) for name, raw in props.items()
                 if _is_array(s := self._quiet_schema(raw)) and self._objectish(s.get("items"))]
        own = (_norm(resource), _norm(_singular(resource)))
        named: list[tuple[tuple[str, ...], dict[str, Any]]] = [
            ((n,), s) for n, s in lists if _norm(n) in RECORD_FIELDS or _norm(n) in own]
        if named:
            return named
        if len(lists) == 1 and all(_norm(str(n)) in META_FIELDS
                                   for n in props if n != lists[0][0]):
            return [((lists[0][0],), lists[0][1])]
        if lists or depth <= 1:
            return []
        out: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        for name, raw in props.items():
            s = self._quiet_schema(raw)
            if _is_object(s) and not _is_array(s):
                out += [((str(name), *p), x) for p, x in self._arrays(s, resource, depth - 1)]
        return out

    def _quiet_schema(self, raw: Any) -> dict[str, Any]:
        try:
            return self.refs.schema(raw)
        except _Unresolved:
            return {}

    def _objectish(self, raw: Any) -> bool:
        """Records are objects: a schema of one, or one of several (``oneOf``)."""
        s = self._quiet_schema(raw)
        if _is_object(s):
            return True
        members = [self._quiet_schema(m) for m in _seq(s.get("oneOf") or s.get("anyOf"))]
        members = [m for m in members if not _is_null(m)]
        return bool(members) and all(_is_object(m) for m in members)

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
                merged["properties"].update(_map(self._quiet_schema(m).get("properties")))
            item = merged
        return parts, body, item, others

    # -- pagination -------------------------------------------------------------------------
    def _fields(self, body: dict[str, Any], depth: int = 3, prefix: tuple[str, ...] = ()
                ) -> list[_Field]:
        """The body's fields but its lists (the records among them), nested objects too
        (``depth`` levels), each named by a dotted path."""
        out: list[_Field] = []
        for name, raw in _map(body.get("properties")).items():
            if "." in str(name):
                continue
            s = self._quiet_schema(raw)
            if _is_array(s):
                continue
            out.append(_Field((*prefix, name), s))
            if _is_object(s) and depth > 1:
                out += self._fields(s, depth - 1, (*prefix, name))
        return out

    @staticmethod
    def _first(fields: list[_Field], names: tuple[str, ...], *types: str) -> _Field | None:
        """The shallowest field named as one of ``names`` (the earlier name first)."""
        hits = [f for f in fields if _norm(f.name) in names and f.typed(*types)]
        hits.sort(key=lambda f: (len(f.path), _rank(f.name, names)))
        return hits[0] if hits else None

    def _limit(self, query: dict[str, dict[str, Any]], pname: str | None,
               notes: list[tuple[NoteKind, str]]) -> int:
        if pname is None:
            return 100
        s = query[pname]
        for which in ("maximum", "default"):
            value = s.get(which)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                notes.append(("guess", f"page size: {pname}={value} (its {which})"))
                return value
        notes.append(("guess", f"page size: {pname}=100 (the parameter says no maximum or "
                               "default: check the API's)"))
        return 100

    def pagination(self, query: dict[str, dict[str, Any]], body: dict[str, Any],
                   headers: dict[str, str], parts: tuple[str, ...],
                   notes: list[tuple[NoteKind, str]], key_field: str
                   ) -> tuple[dict[str, Any], str | None]:
        """The pagination style and its settings, and where the total count is
        (``key_field``: the records' key, a cursor taken from the last record)."""

        def param(names: tuple[str, ...]) -> str | None:
            hits = [n for n in query if _norm(n) in names]
            hits.sort(key=lambda n: _rank(n, names))
            return hits[0] if hits else None

        at = len(notes)
        cursor, limit_p = param(CURSOR_PARAMS), param(LIMIT_PARAMS)
        offset_p, page_p = param(OFFSET_PARAMS), param(PAGE_PARAMS)
        fields = self._fields(body) if parts else []
        total = self._first([f for f in fields if len(f.path) <= 2], TOTAL_FIELDS, "integer")
        total_path = total.dotted if total else None

        def said(style: str, why: str) -> None:
            notes.insert(at, ("guess", f"pagination: {style} ({why})"))

        next_cursor = None
        if cursor:
            mine = [f for f in fields if _norm(f.name) in (_norm(cursor), "next" + _norm(cursor))
                    and f.typed("string", "integer")]
            next_cursor = min(mine, key=lambda f: len(f.path)) if mine else \
                self._first(fields, NEXT_CURSOR_FIELDS, "string", "integer")
        has_more = self._first(fields, HAS_MORE_FIELDS, "boolean")
        cursor_header = next((h for low, h in headers.items()
                              if "cursor" in low or "continuation" in low
                              or "nexttoken" in _norm(low)), None)
        next_url = self._next_url(fields)
        if cursor and next_cursor:
            out: dict[str, Any] = {"style": "cursor", "cursor_param": cursor}
            out |= self._limit_settings(query, limit_p, notes)
            out["next_cursor_path"] = next_cursor.dotted
            why = f"the {cursor} parameter takes {next_cursor.dotted} of the body"
            if has_more:
                out["has_more_path"] = has_more.dotted
                why += f", while {has_more.dotted}"
            said("cursor", why)
            return out, total_path
        if cursor and cursor_header:
            out = {"style": "header_cursor", "cursor_header": cursor_header,
                   "cursor_param": cursor} | self._limit_settings(query, limit_p, notes)
            said("header_cursor", f"the {cursor} parameter takes the {cursor_header} "
                                  "response header")
            return out, total_path
        if "link" in headers:
            out = {"style": "header_link", "limit_param": limit_p}
            if limit_p:
                out["limit"] = self._limit(query, limit_p, notes)
            said("header_link", "the response has a Link header: its rel=\"next\" is followed")
            return out, total_path
        if next_url:
            out = {"style": "json_link", "next_url_path": next_url.dotted,
                   "limit_param": limit_p}
            if limit_p:
                out["limit"] = self._limit(query, limit_p, notes)
            said("json_link", f"the body's {next_url.dotted} is the next page's URL")
            return out, total_path
        if cursor and (has_more or _norm(cursor) in AFTER_ID_PARAMS):
            out = {"style": "cursor", "cursor_param": cursor} | self._limit_settings(
                query, limit_p, notes)
            out["cursor_from_record"] = key_field
            if has_more:
                out["has_more_path"] = has_more.dotted
            said("cursor", f"the {cursor} parameter takes the last record's {key_field}"
                 + (f", while {has_more.dotted}" if has_more else "; an empty page is the last"))
            if _norm(cursor) not in AFTER_ID_PARAMS:
                notes.append(("warning", f"no field of the body holds the next cursor: check "
                              f"that {cursor} takes the last record's {key_field} "
                              "(cursor_from_record)"))
            return out, total_path
        if offset_p and limit_p:
            out = {"style": "offset", "offset_param": offset_p, "limit_param": limit_p,
                   "limit": self._limit(query, limit_p, notes)}
            nxt = self._first(fields, ("nextoffset",), "integer")
            if nxt:
                out["next_offset_path"] = nxt.dotted
            said("offset", f"the {offset_p} and {limit_p} parameters"
                 + (f"; the next offset is {nxt.dotted}" if nxt else
                    "; a page shorter than the limit is the last"))
            return out, total_path
        if page_p:
            out = {"style": "page_number", "page_param": page_p,
                   "limit_param": limit_p or "per_page",
                   "limit": self._limit(query, limit_p, notes)}
            first = query[page_p].get("default", query[page_p].get("minimum"))
            if first == 0:
                out["first_page"] = 0
            pages = self._first(fields, TOTAL_PAGES_FIELDS, "integer")
            if pages:
                out["total_pages_path"] = pages.dotted
            if not limit_p:
                out["until"] = "empty_page"
            said("page_number", f"the {page_p} parameter" +
                 (f" and {limit_p}" if limit_p else "") +
                 (f"; the last page is {pages.dotted}" if pages else
                  "; a page shorter than the limit is the last" if limit_p else
                  "; an empty page is the last"))
            if not limit_p:
                notes.append(("warning", f"{page_p} has no page-size parameter beside it: "
                              "per_page is sent anyway (most APIs ignore what they do not "
                              "take); set limit_param to the API's"))
            return out, total_path
        said("single", "no parameter or field says how to ask for the next page: one request")
        hints = [p for p in (cursor, offset_p, limit_p) if p]
        if hints:
            notes.append(("warning", f"it takes {', '.join(hints)}, yet nothing in the "
                          "response says where the next page is: one request fetches the "
                          "first page only; check the API's docs"))
        return {"style": "single"}, total_path

    def _limit_settings(self, query: dict[str, dict[str, Any]], limit_p: str | None,
                        notes: list[tuple[NoteKind, str]]) -> dict[str, Any]:
        if limit_p is None:
            notes.append(("warning", "no page-size parameter: limit=100 is sent anyway "
                                     "(limit_param); set it to the API's"))
            return {"limit_param": "limit", "limit": 100}
        return {"limit_param": limit_p, "limit": self._limit(query, limit_p, notes)}

    def _next_url(self, fields: list[_Field]) -> _Field | None:
        """The next page's URL: ``next`` (``links.next``, ``paging.next``), ``next_url``, or
        HAL's ``_links.next.href``."""
        for f in sorted(fields, key=lambda f: len(f.path)):
            if _norm(f.name) not in NEXT_URL_FIELDS:
                continue
            if _is_object(f.schema) and "href" in _map(f.schema.get("properties")):
                return _Field((*f.path, "href"), {})
            own = _types(f.schema)
            if "string" in own or (not own and not _is_object(f.schema)):
                return f
        return None

    # -- columns and key --------------------------------------------------------------------
    def column_type(self, raw: Any, depth: int = 0) -> str:
        try:
            s = self.refs.schema(raw)
        except _Unresolved:
            return "json"
        types = _types(s)
        fmt = str(s.get("format", "")).lower()
        if not types:
            members = s.get("oneOf") or s.get("anyOf")
            if isinstance(members, list) and members and depth < 4:
                return self._one_of({self.column_type(m, depth + 1) for m in members
                                     if not _is_null(self._quiet_schema(m))})
            if "properties" in s or "additionalProperties" in s or "items" in s:
                return "json"
            if _norm(fmt) in ("datetime", "date"):
                return "timestamp"
            if "enum" in s or "format" in s or "pattern" in s or "maxLength" in s:
                return "text"
            return "json"  # any value at all: kept whole
        if len(types) > 1:
            return self._one_of({self.column_type({**s, "type": t}, depth + 1) for t in types})
        t = types[0]
        if t in ("integer", "number") and fmt in ("unix-time", "unixtime", "timestamp"):
            return "timestamp"
        if t == "string" and _norm(fmt) in ("datetime", "date"):
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
        for prop, raw in _map(item.get("properties")).items():
            prop = str(prop)
            s = self._quiet_schema(raw)
            if s.get("writeOnly") is True:
                continue
            if "." in prop or not prop.strip():
                dropped.append(prop)
                continue
            name = _unique(identifier(prop, "f"), taken)
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
        props = _map(item.get("properties"))
        if "id" in props and "id" in column_of:
            return "id"
        singular = _norm(_singular(resource))
        for prop in props:
            if prop in column_of and singular and _norm(prop) == singular + "id":
                notes.append(("guess", _key_note(prop, column_of, "no id field; named after "
                                                                  "the resource")))
                return column_of[prop]
        for prop in _seq(item.get("required")):
            if not isinstance(prop, str) or prop not in column_of or not re.search(
                    r"(^|_)(id|uuid|guid)$|[a-z0-9](Id|ID|Uuid|UUID)$|^(ID|Id|uuid|guid)$",
                    str(prop)):
                continue
            types = _types(self._quiet_schema(props.get(prop)))
            if not types or set(types) & {"string", "integer"}:
                notes.append(("guess", _key_note(prop, column_of, "the first required field "
                                                                  "named like an id: check it "
                                                                  "is unique")))
                return column_of[prop]
        return None

    def _auth_param(self, where: str, name: str) -> bool:
        """A header or cookie parameter that is the API key of a security scheme."""
        for scheme in self.schemes().values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == where and \
                    str(scheme.get("name", "")).lower() == name.lower():
                return True
        return where == "header" and name.lower() in ("authorization", "accept",
                                                      "content-type", "user-agent")

    # -- parents ----------------------------------------------------------------------------
    def find_parent(self, c: _Candidate, all_: list[_Candidate]
                    ) -> tuple[_Candidate, str] | str:
        segs = c.segments
        last = max(i for i, s in enumerate(segs) if "{" in s)
        first = last
        while first > 0 and "{" in segs[first - 1]:
            first -= 1
        prefix = "/" + "/".join(segs[:first])
        by_path = [p for p in all_ if p is not c and p.path.rstrip("/") == prefix]
        if by_path:
            return by_path[0], ""
        anchor = segs[first - 1] if first > 0 else ""
        by_name = sorted((p for p in all_ if p is not c and anchor and p.resource == anchor
                          and len(p.placeholders) < len(c.placeholders)),
                         key=lambda p: (len(p.placeholders), p.order))
        if by_name:
            return by_name[0], f"none lists at {prefix}; this one is named {anchor}: a guess"
        params = ", ".join("{" + p + "}" for p in c.placeholders[:first + 1])
        return f"no listing gives its path parameters ({params}): none at {prefix}" \
               + (f", and none named {anchor}" if anchor else "") \
               + (f" (a fixed list of them can be declared: partitions: {{param: "
                  f"{c.placeholders[0]}, values: [...]}})" if len(c.placeholders) == 1 else "")

    def map_params(self, c: _Candidate, parent: _Candidate) -> dict[str, str] | str:
        """Each placeholder of ``c``: the dotted path of its value in a ``parent`` record."""
        segs = c.segments
        last = max(i for i, s in enumerate(segs) if "{" in s)
        identifying = re.findall(r"{([^}]+)}", segs[last])[-1]
        s_word = _singular(parent.resource)
        props = _map(parent.item.get("properties"))
        by_norm = {_norm(p): p for p in props}
        out: dict[str, str] = {}
        for ph in c.placeholders:
            n = _norm(ph)
            found: str | None = None
            if n in by_norm:
                prop = by_norm[n]
                s = self._quiet_schema(props[prop])
                if _is_object(s):
                    inner = {_norm(str(k)): str(k) for k in _map(s.get("properties"))}
                    sub = next((inner[k] for k in (*NAME_FIELDS, "id") if k in inner), None)
                    found = f"{prop}.{sub}" if sub else None
                else:
                    found = prop
            elif n + "id" in by_norm:
                found = by_norm[n + "id"]
            elif ph == identifying:
                found = self._identifying(ph, s_word, parent, by_norm)
            if found is None:
                return (f"its path parameter {{{ph}}} is no field of the records of "
                        f"{parent.op}, its parent")
            out[ph] = found
        return out

    def _identifying(self, ph: str, s_word: str, parent: _Candidate,
                     by_norm: dict[str, str]) -> str:
        n, s = _norm(ph), _norm(s_word)
        if n in (s + "id", "id") or n.endswith("id"):
            return parent.key_prop
        rest = re.match(rf"^(?i:{re.escape(s_word)})(?:[_-](.+)|([A-Z].*))$", ph)
        tail = _norm(rest.group(1) or rest.group(2)) if rest else ""
        if tail in by_norm:
            return by_norm[tail]
        if n in LOGIN_PARAMS or parent.key_type == "bigint":
            for name in NAME_FIELDS:
                if name in by_norm:
                    return by_norm[name]
        return parent.key_prop

    # -- auth -------------------------------------------------------------------------------
    def schemes(self) -> dict[str, dict[str, Any]]:
        raw = self.doc.get("securityDefinitions") if self.v2 else \
            _map(self.doc.get("components")).get("securitySchemes")
        out: dict[str, dict[str, Any]] = {}
        for name, s in _map(raw).items():
            try:
                target, _ = self.refs.deref(s)
            except _Unresolved:
                continue
            if isinstance(target, dict):
                out[str(name)] = target
        return out

    def auth(self, scheme_name: str, scopes: list[str], var: str
             ) -> tuple[dict[str, Any] | None, list[tuple[NoteKind, str]]]:
        """The declaration's auth for a security scheme; ``var`` prefixes its variables."""
        s = self.schemes()[scheme_name]
        kind = str(s.get("type", ""))
        scheme = str(s.get("scheme", "")).lower()
        notes: list[tuple[NoteKind, str]] = []
        said = f"security scheme {scheme_name}"
        if kind == "apiKey":
            where, key_name = s.get("in"), str(s.get("name", ""))
            secret = f"${{{var}_API_KEY}}"
            if where == "header":
                if key_name.lower() == "authorization":
                    notes.append(("warning", f"{said} puts the key in the Authorization "
                                  f"header: {var}_API_KEY holds the whole value (with its "
                                  "prefix, e.g. 'Token ...')"))
                notes.append(("guess", f"an API key in the {key_name} header ({said}), "
                                       f"from {secret}"))
                return {"kind": "header", "header": key_name, "secret": secret}, notes
            if where == "query":
                notes.append(("guess", f"an API key in the query parameter {key_name} "
                                       f"({said}), from {secret}"))
                return {"kind": "query", "param": key_name, "secret": secret}, notes
            if where == "cookie" and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key_name):
                notes.append(("guess", f"an API key in the cookie {key_name} ({said}), "
                                       f"from {secret}"))
                return {"kind": "cookie", "cookie": key_name, "secret": secret}, notes
        elif (kind == "http" and scheme == "bearer") or kind in ("openIdConnect", "oauth2"):
            flows = _map(s.get("flows"))
            if kind == "oauth2" and (isinstance(flows.get("clientCredentials"), dict)
                                     or s.get("flow") == "application"):
                flow = flows.get("clientCredentials") or s
                token_url = str(flow.get("tokenUrl", ""))
                out: dict[str, Any] = {
                    "kind": "oauth2_client_credentials", "token_url": token_url,
                    "client_id": f"${{{var}_CLIENT_ID}}", "secret": f"${{{var}_CLIENT_SECRET}}"}
                if scopes:
                    out["scope"] = " ".join(scopes)
                notes.append(("guess", f"OAuth2 client credentials ({said}): a token from "
                                       f"{token_url}, with ${{{var}_CLIENT_ID}} and "
                                       f"${{{var}_CLIENT_SECRET}}"
                                       + (f", scope {' '.join(scopes)!r}" if scopes else "")))
                return out, notes
            secret = f"${{{var}_TOKEN}}"
            if kind != "http":
                notes.append(("warning", f"{said} ({kind}) has no client-credentials flow: "
                              f"a token you obtain yourself goes in {var}_TOKEN, and is not "
                              "renewed"))
            notes.append(("guess", f"a bearer token ({said}), from {secret}"))
            return {"kind": "bearer", "secret": secret}, notes
        elif (kind == "http" and scheme == "basic") or kind == "basic":
            notes.append(("guess", f"HTTP basic ({said}), from ${{{var}_USERNAME}} and "
                                   f"${{{var}_PASSWORD}}"))
            return {"kind": "basic", "username": f"${{{var}_USERNAME}}",
                    "secret": f"${{{var}_PASSWORD}}"}, notes
        what = f"{kind} {scheme}".strip() if kind else "unnamed"
        return None, [("warning", f"{said} ({what}) is no auth kind a declaration has: none "
                                  "declared")]

    def requirement(self, security: Any) -> tuple[str, list[str]] | None:
        """The first alternative of a ``security`` list naming one scheme this knows."""
        schemes = self.schemes()
        for alt in security if isinstance(security, list) else []:
            if isinstance(alt, dict) and len(alt) == 1:
                name, scopes = next(iter(alt.items()))
                if name in schemes:
                    return str(name), [str(x) for x in _seq(scopes)]
        return None

    # -- base URL ---------------------------------------------------------------------------
    def server(self) -> tuple[str, str]:
        """The document's server URL (maybe relative), and where it was read."""
        if self.v2:
            host = self.doc.get("host")
            base = str(self.doc.get("basePath") or "")
            if not host:
                return base or "/", "basePath (no host)"
            schemes = [str(x) for x in _seq(self.doc.get("schemes"))] or ["https"]
            scheme = "https" if "https" in schemes else str(schemes[0])
            return f"{scheme}://{host}{base}", "host and basePath"
        servers = _seq(self.doc.get("servers"))
        if not servers or not isinstance(servers[0], dict) or "url" not in servers[0]:
            return "/", "no servers"
        url = str(servers[0]["url"])
        variables = _map(servers[0].get("variables"))
        for var, spec in variables.items():
            if isinstance(spec, dict) and "default" in spec:
                url = url.replace("{" + str(var) + "}", str(spec["default"]))
        said = "servers[0]" + (f", {', '.join(sorted(map(str, variables)))} at the default"
                               if variables else "")
        return url, said


def declaration_from_openapi(doc: dict[str, Any], name: str, *, base_url: str | None = None
                             ) -> tuple[dict[str, Any], list[Note]]:
    """A starting declaration for the API ``doc`` describes, named ``name``, and the notes
    saying what was guessed, what to check, and what was left out. Raises ``OpenAPIError``
    when the document is no OpenAPI, or lists nothing."""
    if not IDENTIFIER.match(name) or len(name) > MAX_IDENTIFIER:
        raise OpenAPIError(f"{name!r} is no source name: lower-case letters, digits and _, "
                           f"a letter first, {MAX_IDENTIFIER} at most (e.g. "
                           f"{identifier(name, 'source')!r})")
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if "openapi" in doc and not version.startswith("3."):
        raise OpenAPIError(f"OpenAPI {version} is not read here: 3.0, 3.1 and Swagger 2.0 are")
    if "openapi" not in doc and version != "2.0":
        raise OpenAPIError(f"Swagger {version} is not read here: 3.0, 3.1 and Swagger 2.0 are")
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenAPIError("the document has no paths: nothing to fetch")
    r = _Reader(doc, name)
    notes: list[Note] = []
    source_url = _base_url(r, base_url, notes)

    candidates: list[_Candidate] = []
    skipped: list[Note] = []
    for order, (path, raw_item) in enumerate(paths.items()):
        try:
            item, _ = r.refs.deref(raw_item)
        except _Unresolved as exc:
            skipped.append(Note("skipped", f"GET {path}", str(exc)))
            continue
        op = item.get("get") if isinstance(item, dict) else None
        if not isinstance(op, dict):
            continue
        found = r.candidate(order, str(path), item, op)
        if isinstance(found, str):
            skipped.append(Note("skipped", f"GET {path}", found))
        else:
            candidates.append(found)

    streams = _with_parents(r, candidates, skipped)
    if not streams:
        reasons = "".join(f"\n  {n}" for n in sorted(skipped, key=lambda n: n.subject))
        raise OpenAPIError("no GET operation lists records (a list of objects, or an object "
                           "holding one) that a stream could fetch" +
                           (f"; left out:{reasons}" if reasons else ""))
    _names(name, streams)
    for c in streams:
        if c.parent:
            _parent_notes(c)
    source_auth = _source_auth(r, streams, notes)
    out: dict[str, Any] = {"name": name, "base_url": source_url}
    if source_auth[0] is not None:
        out["auth"] = source_auth[0]
    out["streams"] = [_stream(r, c, source_auth[1]) for c in streams]
    for c in streams:
        notes += [Note(kind, c.name, text) for kind, text in c.notes]
    where = {f"GET {p}": i for i, p in enumerate(paths)}
    skipped.sort(key=lambda n: where.get(n.subject, len(where)))
    return out, notes + skipped


def _base_url(r: _Reader, given: str | None, notes: list[Note]) -> str:
    url, said = r.server()
    relative = not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url)
    if given:
        origin = re.match(r"^https?://[^/?#]+/?$", given)
        if not re.match(r"^https?://[^/?#]+", given):
            raise OpenAPIError(f"--base-url {given!r} is no http(s) URL")
        if relative and origin and url.strip("/"):
            joined = given.rstrip("/") + "/" + url.strip("/")
            notes.append(Note("guess", "base_url", f"{joined}: the given base URL, then the "
                                                   f"document's relative server {url}"))
            return joined
        notes.append(Note("guess", "base_url", f"{given}: as given" +
                          ("" if relative else f" (the document says {url})")))
        return given
    if relative:
        raise OpenAPIError(f"the document's server is relative ({url!r}, {said}): it is "
                           "wherever the document is served from; give the API's URL with "
                           "--base-url https://...")
    if not re.match(r"^https?://[^/?#{}]+", url) or "{" in url:
        raise OpenAPIError(f"the document's server {url!r} is no http(s) URL (a variable "
                           "without a default?): give --base-url https://...")
    url = url.rstrip("/")
    notes.append(Note("guess", "base_url", f"{url} ({said})"))
    return url


def _with_parents(r: _Reader, candidates: list[_Candidate], skipped: list[Note]
                  ) -> list[_Candidate]:
    """The candidates that become streams, each child after its parent."""
    done = [c for c in candidates if not c.placeholders]
    pending = [c for c in candidates if c.placeholders]
    why: dict[int, str] = {}
    for c in done:
        c.name = c.resource  # for messages; the real names come after
    progress = True
    while progress and pending:
        progress = False
        for c in list(pending):
            found = r.find_parent(c, candidates)
            if isinstance(found, str):
                why[id(c)] = found
                continue
            parent, how = found
            if parent not in done:
                why[id(c)] = f"its parent {parent.op} is left out"
                continue
            mapped = r.map_params(c, parent)
            if isinstance(mapped, str):
                why[id(c)] = mapped
                continue
            c.parent, c.parent_params = parent, mapped
            c.parent_how = how
            c.name = c.resource
            done.append(c)
            pending.remove(c)
            progress = True
    for c in pending:
        skipped.append(Note("skipped", c.op, why.get(id(c), "its parent is left out")))
    ordered: list[_Candidate] = []
    rest = sorted(done, key=lambda c: c.order)
    while rest:
        nxt = next(c for c in rest if c.parent is None or c.parent in ordered)
        ordered.append(nxt)
        rest.remove(nxt)
    return ordered


def _names(source: str, streams: list[_Candidate]) -> None:
    """Stream names from the paths (top-level streams first take the plain ones), tables
    ``<source>_<stream>``; each unique."""
    taken: set[str] = set()
    for c in sorted(streams, key=lambda c: (len(c.placeholders), c.order)):
        words = [s for s in c.static if not _VERSION_SEGMENT.match(s)]
        base = identifier(c.resource, "records")
        if len(words) > 1 and _singular(words[-1]) == words[-1]:  # /categories/tree
            base = identifier("_".join(words[-2:]), "records")
        tries = [identifier("_".join(words), "records"),  # /v3/schedules: v3_schedules
                 identifier("_".join(c.static), "records")]
        if c.parent is not None:  # /actions/{id}/services: actions_services
            tries.insert(0, identifier(f"{c.parent.name}_{base}", "records"))
        if base in taken:
            base = next((t for t in tries if t not in taken), base)
        c.name = _unique(base, taken)
    tables: set[str] = set()
    for c in streams:
        c.table = _unique(identifier(f"{source}_{c.name}"), tables)


def _parent_notes(c: _Candidate) -> None:
    """A child's notes (after the one naming its parent), and its parent's key copied in."""
    parent = c.parent
    assert parent is not None
    said = ", ".join(f"{{{k}}} = {v}" for k, v in c.parent_params.items())
    notes: list[tuple[NoteKind, str]] = [
        ("guess", f"parent: {parent.name}, the listing at {parent.path}"
                  + (f" ({c.parent_how})" if c.parent_how else "")),
        ("guess", f"for every record of {parent.name}: {said}")]
    keep = identifier(f"{_singular(parent.name)}_{parent.key}")
    if keep not in c.columns:
        c.include = {keep: parent.key_prop}
        c.columns[keep] = {"type": parent.key_type} if parent.key_type != "text" else {}
        notes.append(("guess", f"each record gets {keep}, its parent's key (parent.include)"))
    if c.has_404:
        notes.append(("guess", "a 404 (its parent gone) is a page of none (response_actions)"))
    c.notes[0:0] = notes


def _source_auth(r: _Reader, streams: list[_Candidate], notes: list[Note]
                 ) -> tuple[dict[str, Any] | None, str | None]:
    """The source's auth and the scheme it comes from."""
    schemes = r.schemes()
    var = _env_prefix(r.name)
    chosen = r.requirement(r.doc.get("security"))
    how = None
    if chosen is None:
        used = [x for c in streams if (x := r.requirement(c.security))]
        if used:
            names = [u[0] for u in used]
            top = max(dict.fromkeys(names), key=names.count)
            chosen = next(u for u in used if u[0] == top)
            how = "the scheme most of its operations require"
        elif len(schemes) == 1:
            chosen = (next(iter(schemes)), [])
            how = "the one scheme the document defines; it requires none"
    if chosen is None:
        if schemes:
            notes.append(Note("warning", "auth", "the document defines security schemes ("
                              + ", ".join(schemes) + ") but requires none: no auth declared"))
        else:
            notes.append(Note("guess", "auth", "none (the document defines no security scheme)"))
        return None, None
    auth, said = r.auth(chosen[0], chosen[1], var)
    if how:
        said = [(k, f"{t} ({how})" if k == "guess" else t) for k, t in said]
    notes += [Note(k, "auth", t) for k, t in said]
    others = [str(next(iter(alt))) for alt in _seq(r.doc.get("security"))
              if isinstance(alt, dict) and len(alt) == 1 and next(iter(alt)) != chosen[0]]
    if others:
        notes.append(Note("guess", "auth", f"the API also accepts {', '.join(others)}"))
    return auth, chosen[0] if auth is not None else None


def _env_prefix(source: str) -> str:
    """Where a source's secrets come from: ``TRIBUTARY_<SOURCE>_...``, as the shipped
    declarations' (the local stack passes only ``TRIBUTARY_`` variables to its functions)."""
    return f"TRIBUTARY_{source.upper()}"


def _stream(r: _Reader, c: _Candidate, source_scheme: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "endpoint": _endpoint(c.path)}
    if c.parent:
        parent: dict[str, Any] = {"stream": c.parent.name, "params": {
            identifier_placeholder(k): v for k, v in c.parent_params.items()}}
        if c.include:
            parent["include"] = c.include
        out["parent"] = parent
    if c.params:
        out["params"] = c.params
    out["records_path"] = c.records_path
    if c.total_path:
        out["total_path"] = c.total_path
    out["primary_key"] = c.key
    out["pagination"] = c.pagination
    if c.parent and c.has_404:
        out["response_actions"] = {404: "empty"}
    own = r.requirement(c.security) if c.security is not None else None
    if own and own[0] != source_scheme:
        auth, said = r.auth(own[0], own[1],
                            f"{_env_prefix(r.name)}_{identifier(own[0], 'scheme').upper()}")
        if auth is not None:
            out["auth"] = auth
            c.notes += [(k, f"its own auth: {t}" if k == "guess" else t) for k, t in said]
    out["table"] = c.table
    out["columns"] = c.columns
    return out


def identifier_placeholder(name: str) -> str:
    """A placeholder as the endpoint writes it (``{user-id}`` -> ``{user_id}``)."""
    return re.sub(r"\W", "_", name)


def _endpoint(path: str) -> str:
    return re.sub(r"{([^}]+)}", lambda m: "{" + identifier_placeholder(m.group(1)) + "}", path)


# -- YAML ------------------------------------------------------------------------------------

def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a flow mapping, or a scalar)."""
    if isinstance(value, dict | list):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False,
                              width=1 << 20, allow_unicode=True).strip()
    text = yaml.safe_dump({"v": value}, default_flow_style=False, width=1 << 20,
                          allow_unicode=True)
    return text[len("v: "):].strip()


def _comment(lines: list[str], indent: str, more: str = "  ") -> list[str]:
    """``lines`` as YAML comments, each wrapped at 96 characters (``more`` indents the rest)."""
    out = []
    for line in lines:
        wrapped = textwrap.wrap(line, width=96 - len(indent), subsequent_indent=more,
                                break_long_words=False, break_on_hyphens=False)
        out += [f"{indent}# {w}" for w in wrapped]
    return out


def _entry(key: str, value: Any, lead: str, indent: str) -> list[str]:
    """``key: value`` on one line, or a mapping too long for one as a block under ``key``."""
    line = f"{lead}{key}: {_flow(value)}"
    if len(line) <= 100 or not isinstance(value, dict) or not value:
        return [line]
    return [f"{lead}{key}:", *(f"{indent}  {k}: {_flow(v)}" for k, v in value.items())]


def render(declaration: dict[str, Any], notes: list[Note], *, origin: str) -> str:
    """The declaration as YAML a person reads: name, base_url, auth, streams (each with its
    guesses and warnings above it as comments), and what was left out at the end."""
    by: dict[str, list[Note]] = {}
    for n in notes:
        by.setdefault(n.subject, []).append(n)

    def said(subject: str, prefix: str = "") -> list[str]:
        return [prefix + ("WARNING: " if n.kind == "warning" else "") + n.text
                for n in by.get(subject, []) if n.kind != "skipped"]

    lines = _comment([f"Written by `tributary sources new` from {origin}: a start to check, "
                      "not the truth. Each guess (and every WARNING) is said above what it "
                      "made; check them against the API's documentation, then run "
                      "`tributary validate`."], "")
    lines += _comment(said("base_url", "base_url: "), "")
    lines += [f"name: {_flow(declaration['name'])}",
              f"base_url: {_flow(declaration['base_url'])}"]
    lines += _comment(said("auth", "auth: "), "")
    if "auth" in declaration:
        lines += _entry("auth", declaration["auth"], "", "")
    lines.append("streams:")
    for s in declaration["streams"]:
        lines += _comment([f"GET {s['endpoint']}", *said(s["name"])], "  ")
        for i, (key, value) in enumerate(s.items()):
            lead = "  - " if i == 0 else "    "
            if key == "columns":
                lines.append(f"{lead}columns:")
                lines += [f"      {col}: {_flow(spec)}" for col, spec in value.items()]
            else:
                lines += _entry(key, value, lead, "    ")
    left = [n for n in notes if n.kind == "skipped"]
    if left:
        lines += ["", "# Left out (no stream could be made of them):"]
        for n in left:
            lines += _comment([f"- {n}"], "", more="    ")
    return "\n".join(lines) + "\n"
