"""Pagination: the names that say it, and the reader's part that recognises a paginator.

**Pagination**, from the query parameters, the response's fields and headers, in this
order: a cursor parameter (cursor, starting_after, page_token, after, ...) with a
next-cursor field -> ``cursor`` (``has_more`` too); with a cursor header ->
``header_cursor``; a ``Link`` response header -> ``header_link``; a next-page URL field
(``next``, ``links.next``, HAL ``_links.next.href``) -> ``json_link``; a cursor parameter
with only ``has_more``, or named for an id (Stripe's ``starting_after``) -> ``cursor`` with
``cursor_from_record`` (the last record's key); offset + limit -> ``offset``; page + a page
size -> ``page_number``; else ``single``. The page size is the parameter's maximum, else
its default, else 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tributary.sources.openapi.document import (
    NoteKind,
    ReaderPart,
    as_map,
    is_array,
    is_object,
    json_types,
)
from tributary.sources.openapi.names import norm, rank_in

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
        own = json_types(self.schema)
        return not own or bool(set(own) & set(types))


class Paging(ReaderPart):
    """The reader's part that tells how a listing pages (``pagination``)."""

    def _fields(self, body: dict[str, Any], depth: int = 3, prefix: tuple[str, ...] = ()
                ) -> list[_Field]:
        """The body's fields but its lists (the records among them), nested objects too
        (``depth`` levels), each named by a dotted path."""
        out: list[_Field] = []
        for name, raw in as_map(body.get("properties")).items():
            if "." in str(name):
                continue
            s = self.quiet_schema(raw)
            if is_array(s):
                continue
            out.append(_Field((*prefix, name), s))
            if is_object(s) and depth > 1:
                out += self._fields(s, depth - 1, (*prefix, name))
        return out

    @staticmethod
    def _first(fields: list[_Field], names: tuple[str, ...], *types: str) -> _Field | None:
        """The shallowest field named as one of ``names`` (the earlier name first)."""
        hits = [f for f in fields if norm(f.name) in names and f.typed(*types)]
        hits.sort(key=lambda f: (len(f.path), rank_in(f.name, names)))
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
            hits = [n for n in query if norm(n) in names]
            hits.sort(key=lambda n: rank_in(n, names))
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
            mine = [f for f in fields if norm(f.name) in (norm(cursor), "next" + norm(cursor))
                    and f.typed("string", "integer")]
            next_cursor = min(mine, key=lambda f: len(f.path)) if mine else \
                self._first(fields, NEXT_CURSOR_FIELDS, "string", "integer")
        has_more = self._first(fields, HAS_MORE_FIELDS, "boolean")
        cursor_header = next((h for low, h in headers.items()
                              if "cursor" in low or "continuation" in low
                              or "nexttoken" in norm(low)), None)
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
        if cursor and (has_more or norm(cursor) in AFTER_ID_PARAMS):
            out = {"style": "cursor", "cursor_param": cursor} | self._limit_settings(
                query, limit_p, notes)
            out["cursor_from_record"] = key_field
            if has_more:
                out["has_more_path"] = has_more.dotted
            said("cursor", f"the {cursor} parameter takes the last record's {key_field}"
                 + (f", while {has_more.dotted}" if has_more else "; an empty page is the last"))
            if norm(cursor) not in AFTER_ID_PARAMS:
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
            if norm(f.name) not in NEXT_URL_FIELDS:
                continue
            if is_object(f.schema) and "href" in as_map(f.schema.get("properties")):
                return _Field((*f.path, "href"), {})
            own = json_types(f.schema)
            if "string" in own or (not own and not is_object(f.schema)):
                return f
        return None
