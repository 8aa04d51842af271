"""One small class per pagination style, behind one interface (as dlt does).

A paginator only knows how to ask for a page and where the next one starts, from the body
and the headers of the page before. Its position is a string (a cursor, an offset, a page
number, a next page's URL) so a checkpoint can store any of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import httpx

from tributary.sources.paths import dig
from tributary.sources.spec import (
    CursorPagination,
    CursorParams,
    HeaderCursorPagination,
    HeaderLinkPagination,
    JsonLinkPagination,
    LinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    PaginationStyle,
    SinglePagination,
    SnapshotPagination,
)

__all__ = ["PAGINATORS", "Paginator", "dig", "paginator_for"]
S = TypeVar("S", bound=PaginationStyle)
NO_HEADERS: Mapping[str, str] = {}


class Paginator(ABC, Generic[S]):
    """Asks for pages of one declared ``spec``."""

    conditional = False  # poll with If-None-Match

    def __init__(self, spec: S) -> None:
        self.spec = spec

    @abstractmethod
    def params(self, position: str | None) -> dict[str, Any]:
        """Query parameters for the page at ``position`` (``None``: the first page)."""

    @abstractmethod
    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        """Where the page after this one starts; ``None`` when this was the last. ``last``:
        the page's last record, if any."""

    def target(self, endpoint: str, fixed: Mapping[str, Any],
               position: str | None) -> tuple[str, dict[str, Any]]:
        """The path and query parameters of the page at ``position`` (``fixed``: the
        stream's declared parameters)."""
        return endpoint, {**fixed, **self.params(position)}


C = TypeVar("C", bound=CursorParams)


class CursorParamsPaginator(Paginator[C]):
    """Asks with the cursor as a query parameter; where the next one comes from varies."""

    def params(self, position: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {self.spec.limit_param: self.spec.limit}
        if position:
            out[self.spec.cursor_param] = position
        return out


class CursorPaginator(CursorParamsPaginator[CursorPagination]):

    def params(self, position: str | None) -> dict[str, Any]:
        return super().params(position or self.spec.initial_cursor)

    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        spec = self.spec
        if spec.has_more_path and not dig(body, spec.has_more_path) or \
                spec.stop_path and dig(body, spec.stop_path):
            return None
        if spec.cursor_from_record is not None:
            nxt = dig(last, spec.cursor_from_record) if count else None
        else:
            nxt = dig(body, spec.next_cursor_path or "")
        return str(nxt) if nxt not in (None, "") else None


class OffsetPaginator(Paginator[OffsetPagination]):
    def params(self, position: str | None) -> dict[str, Any]:
        return {self.spec.offset_param: int(position or 0), self.spec.limit_param: self.spec.limit}

    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        if self.spec.next_offset_path is None:  # no hint: a short page is the last
            return str(int(position or 0) + count) if count >= self.spec.limit else None
        nxt = dig(body, self.spec.next_offset_path)
        if nxt is None or nxt == self.spec.end_value or count == 0:
            return None
        return str(int(nxt))


class PageNumberPaginator(Paginator[PageNumberPagination]):
    def params(self, position: str | None) -> dict[str, Any]:
        page = int(position) if position else self.spec.first_page
        return {self.spec.page_param: page, self.spec.limit_param: self.spec.limit}

    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        page = int(position) if position else self.spec.first_page
        last = dig(body, self.spec.total_pages_path) if self.spec.total_pages_path else None
        short = count < self.spec.limit and self.spec.until == "short_page"
        if count == 0 or (last is not None and page >= int(last)) or (last is None and short):
            return None
        return str(page + 1)


L = TypeVar("L", bound=LinkPagination)


class LinkPaginator(Paginator[L]):
    """The next page is a URL the API gives; it already holds every parameter."""

    def params(self, position: str | None) -> dict[str, Any]:
        return {self.spec.limit_param: self.spec.limit} if self.spec.limit_param else {}

    def target(self, endpoint: str, fixed: Mapping[str, Any],
               position: str | None) -> tuple[str, dict[str, Any]]:
        return (position, {}) if position else super().target(endpoint, fixed, None)


class HeaderLinkPaginator(LinkPaginator[HeaderLinkPagination]):
    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        link = headers.get("link")
        if not link:
            return None
        for rel in httpx.Response(200, headers={"link": link}).links.values():
            if self.spec.rel in str(rel.get("rel", "")).split() and rel.get("url"):
                return str(rel["url"])
        return None


class JsonLinkPaginator(LinkPaginator[JsonLinkPagination]):
    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        nxt = dig(body, self.spec.next_url_path)
        return str(nxt) if nxt not in (None, "") else None


class HeaderCursorPaginator(CursorParamsPaginator[HeaderCursorPagination]):
    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        nxt = headers.get(self.spec.cursor_header.lower()) or headers.get(self.spec.cursor_header)
        return nxt or None


class SinglePaginator(Paginator[SinglePagination | SnapshotPagination]):
    def params(self, position: str | None) -> dict[str, Any]:
        return {}

    def next_position(self, body: Any, position: str | None, count: int,
                      headers: Mapping[str, str] = NO_HEADERS, last: Any = None) -> str | None:
        return None


class SnapshotPaginator(SinglePaginator):
    conditional = True


# Each pagination style's paginator: a new style is a model in sources/spec.py and a row here.
PAGINATORS: dict[type[PaginationStyle], type[Paginator[Any]]] = {
    CursorPagination: CursorPaginator, OffsetPagination: OffsetPaginator,
    PageNumberPagination: PageNumberPaginator, HeaderLinkPagination: HeaderLinkPaginator,
    JsonLinkPagination: JsonLinkPaginator, HeaderCursorPagination: HeaderCursorPaginator,
    SinglePagination: SinglePaginator,
    SnapshotPagination: SnapshotPaginator,
}


def paginator_for(spec: Pagination) -> Paginator[Any]:
    return PAGINATORS[type(spec)](spec)
