"""One class per pagination style: what each asks for, and where each says the next page is."""

from __future__ import annotations

import httpx
import pytest

from tributary.extract.http import ApiError, RateLimitedClient
from tributary.extract.paginators import (
    PAGINATORS,
    CursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePaginator,
    SnapshotPaginator,
    dig,
    paginator_for,
)
from tributary.sources.spec import (
    CursorPagination,
    HeaderCursorPagination,
    HeaderLinkPagination,
    JsonLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    SinglePagination,
    SnapshotPagination,
    pagination_styles,
)


def test_cursor_follows_the_body_and_stops_when_has_more_is_false() -> None:
    p = CursorPaginator(CursorPagination(style="cursor", limit_param="count", limit=200,
                                         next_cursor_path="paging.next",
                                         has_more_path="paging.more"))
    assert p.params(None) == {"count": 200}
    assert p.params("abc") == {"count": 200, "cursor": "abc"}
    assert p.next_position({"paging": {"next": "n2", "more": True}}, None, 200) == "n2"
    assert p.next_position({"paging": {"next": "n3", "more": False}}, "n2", 200) is None
    plain = CursorPaginator(CursorPagination(style="cursor", next_cursor_path="next"))
    assert plain.next_position({"next": None}, "x", 5) is None
    assert plain.next_position({"next": ""}, "x", 5) is None


def test_offset_uses_next_offset_and_its_end_value_or_counts_itself() -> None:
    hinted = OffsetPaginator(OffsetPagination(style="offset", limit=200,
                                              next_offset_path="next_offset", end_value=-1))
    assert hinted.params(None) == {"offset": 0, "limit": 200}
    assert hinted.params("400") == {"offset": 400, "limit": 200}
    assert hinted.next_position({"next_offset": 200}, None, 200) == "200"
    assert hinted.next_position({"next_offset": -1}, "9800", 200) is None
    counted = OffsetPaginator(OffsetPagination(style="offset", offset_param="start",
                                               limit_param="size", limit=50))
    assert counted.params("100") == {"start": 100, "size": 50}
    assert counted.next_position({}, "100", 50) == "150"
    assert counted.next_position({}, "150", 7) is None  # a short page is the last


def test_page_number_stops_at_the_last_page_or_a_short_one() -> None:
    p = PageNumberPaginator(PageNumberPagination(style="page_number", limit=10,
                                                 total_pages_path="meta.pages"))
    assert p.params(None) == {"page": 1, "per_page": 10}
    assert p.next_position({"meta": {"pages": 3}}, None, 10) == "2"
    assert p.next_position({"meta": {"pages": 3}}, "3", 10) is None
    short = PageNumberPaginator(PageNumberPagination(style="page_number", limit=10))
    assert short.next_position({}, "2", 10) == "3"
    assert short.next_position({}, "3", 4) is None


def test_single_and_snapshot_are_one_response_and_snapshot_is_conditional() -> None:
    single = SinglePaginator(SinglePagination(style="single"))
    assert single.next_position({"x": 1}, None, 1000) is None
    snap = paginator_for(SnapshotPagination(style="snapshot"))
    assert isinstance(snap, SnapshotPaginator) and snap.conditional
    assert not single.conditional


def test_every_declarable_style_has_a_paginator() -> None:
    """A style added to the declaration model without its paginator fails here, not at the
    first fetch of a source that names it."""
    for style, model in pagination_styles().items():
        assert model in PAGINATORS, f"pagination style {style!r} has no paginator"
    assert set(pagination_styles()) == {"cursor", "offset", "page_number", "single", "snapshot",
                                        "header_link", "json_link", "header_cursor"}


def test_dig_reads_dotted_paths() -> None:
    body = {"a": {"b": [1, 2]}, "c": None}
    assert dig(body, "a.b") == [1, 2]
    assert dig(body, "") is body
    assert dig(body, "a.x") is None and dig(body, "c.d") is None


def test_header_link_follows_rel_next_and_sends_our_parameters_only_first() -> None:
    p = paginator_for(HeaderLinkPagination(style="header_link", limit=50))
    assert p.target("/users", {"state": "open"}, None) == (
        "/users", {"state": "open", "per_page": 50})
    nxt = '<https://api.example.com/users?page=3&per_page=50>; rel="next", ' \
          '<https://api.example.com/users?page=9&per_page=50>; rel="last"'
    assert p.next_position([], None, 50, {"link": nxt}) == \
        "https://api.example.com/users?page=3&per_page=50"
    assert p.target("/users", {"state": "open"}, "https://api.example.com/users?page=3") == (
        "https://api.example.com/users?page=3", {})
    last = '<https://api.example.com/users?page=1>; rel="first", <x>; rel="prev"'
    assert p.next_position([], "x", 50, {"link": last}) is None
    assert p.next_position([], "x", 50, {}) is None


def test_json_link_reads_the_next_url_from_the_body() -> None:
    p = paginator_for(JsonLinkPagination(style="json_link", next_url_path="_links.next.href"))
    assert p.next_position({"_links": {"next": {"href": "/orders?after=9"}}}, None, 100) == \
        "/orders?after=9"
    assert p.target("/orders", {}, "/orders?after=9") == ("/orders?after=9", {})
    for last in ({"_links": {"next": None}}, {"_links": {}}, {"_links": {"next": {"href": ""}}}):
        assert p.next_position(last, "/orders?after=9", 3) is None


def test_header_cursor_reads_the_cursor_from_a_header() -> None:
    p = paginator_for(HeaderCursorPagination(style="header_cursor", cursor_header="X-Cursor"))
    assert p.params(None) == {"limit": 100}
    assert p.params("c2") == {"limit": 100, "cursor": "c2"}
    assert p.next_position([], None, 100, httpx.Headers({"X-Cursor": "c2"})) == "c2"
    assert p.next_position([], "c2", 7, httpx.Headers({})) is None


def test_a_link_to_another_origin_is_refused() -> None:
    client = RateLimitedClient("https://api.example.com", {"Authorization": "x"}, 5)
    assert client.same_origin("/users?page=2") == "/users?page=2"
    assert client.same_origin("https://api.example.com/users?page=2").endswith("page=2")
    with pytest.raises(ApiError, match="another origin"):
        client.same_origin("https://evil.example.net/users?page=2")


def test_page_number_until_an_empty_page_goes_on_past_short_ones() -> None:
    p = paginator_for(PageNumberPagination(style="page_number", limit=50, until="empty_page"))
    assert p.next_position([], None, 37) == "2"  # a short page is not the end here
    assert p.next_position([], "2", 0) is None
    short = paginator_for(PageNumberPagination(style="page_number", limit=50))
    assert short.next_position([], None, 37) is None


def test_cursor_from_the_last_record_until_has_more_is_false() -> None:
    p = CursorPaginator(CursorPagination(style="cursor", cursor_param="starting_after",
                                         cursor_from_record="id", has_more_path="has_more"))
    assert p.next_position({"has_more": True}, None, 2, last={"id": "ch_2"}) == "ch_2"
    assert p.next_position({"has_more": False}, "ch_2", 1, last={"id": "ch_3"}) is None
    assert p.next_position({"has_more": True}, "ch_3", 0, last=None) is None  # empty page


def test_an_export_starts_at_its_initial_cursor_and_stops_at_end_of_stream() -> None:
    p = CursorPaginator(CursorPagination(style="cursor", cursor_param="start_time",
                                         initial_cursor="0", next_cursor_path="end_time",
                                         stop_path="end_of_stream"))
    assert p.params(None) == {"limit": 100, "start_time": "0"}
    assert p.next_position({"end_time": 170, "end_of_stream": False}, "0", 100) == "170"
    assert p.next_position({"end_time": 190, "end_of_stream": True}, "170", 3) is None


def test_a_cursor_comes_from_exactly_one_place() -> None:
    with pytest.raises(ValueError, match="name exactly one"):
        CursorPagination(style="cursor")
    with pytest.raises(ValueError, match="name exactly one"):
        CursorPagination(style="cursor", next_cursor_path="next", cursor_from_record="id")
