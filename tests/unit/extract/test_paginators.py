"""One class per pagination style: what each asks for, and where each says the next page is."""

from __future__ import annotations

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
    assert set(pagination_styles()) == {"cursor", "offset", "page_number", "single", "snapshot"}


def test_dig_reads_dotted_paths() -> None:
    body = {"a": {"b": [1, 2]}, "c": None}
    assert dig(body, "a.b") == [1, 2]
    assert dig(body, "") is body
    assert dig(body, "a.x") is None and dig(body, "c.d") is None
