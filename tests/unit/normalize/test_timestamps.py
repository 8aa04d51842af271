"""Every standard timestamp form is the same instant once normalized (property-based)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tributary.normalize.datasync import events, sessions
from tributary.normalize.declared import DeclaredNormalizer
from tributary.normalize.epoch import one_epoch_ms
from tributary.normalize.stamp_forms import FORMS, kept, render
from tributary.normalize.timestamps import to_epoch_ms
from tributary.sources.loader import parse

INSTANT = 1_790_812_800_123  # 2026-10-01T00:00:00.123Z
# 1973-03-04 (below it, epoch milliseconds read as seconds) to 2068 (RFC 850's two-digit
# years turn to the 1900s from 2069).
instants = st.integers(min_value=100_000_000_000 + 86_400_000, max_value=3_124_137_600_000)
form_names = st.sampled_from(sorted(FORMS))


@given(instants, st.lists(form_names, min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_every_form_reads_back_to_the_same_millisecond(ms: int, forms: list[str]) -> None:
    got, ok = to_epoch_ms([render(f, ms) for f in forms])
    assert ok.all(), [render(f, ms) for f, g in zip(forms, ok, strict=True) if not g]
    assert got.tolist() == [kept(f, ms) for f in forms]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_on_its_own_page(form: str) -> None:
    """A page of one form takes the vectorized path (or the per-value one) all at once."""
    values = [INSTANT + k * 1_000_003 for k in range(500)]
    got, ok = to_epoch_ms([render(form, v) for v in values])
    assert ok.all()
    assert got.tolist() == [kept(form, v) for v in values]


def test_the_reported_value_is_read() -> None:
    assert one_epoch_ms("2026-01-26T17:26:35.724000+00:00") == 1_769_448_395_724


@pytest.mark.parametrize("value", ["yesterday", None, True, False, float("nan"), float("inf"),
                                   "", "  ", "2026-13-45T00:00:00Z", "2026-02-30",
                                   "12:00", [1], {"ms": 1}, "Mon, 99 Foo 2026"])
def test_unreadable_values_are_flagged_not_guessed(value: Any) -> None:
    ms, ok = to_epoch_ms([value, INSTANT])
    assert ok.tolist() == [False, True]
    assert ms[1] == INSTANT


def test_magnitudes_pick_the_unit() -> None:
    ms, ok = to_epoch_ms([1_790_812_800, 1_790_812_800_123, 1_790_812_800_123_456,
                          1_790_812_800_123_456_789, -86_400, "-86400"])
    assert ok.all()
    assert ms.tolist() == [1_790_812_800_000, INSTANT, INSTANT, INSTANT, -86_400_000,
                           -86_400_000]


def test_large_arrays_stay_vectorized() -> None:
    values = list(range(INSTANT, INSTANT + 50_000))
    ms, ok = to_epoch_ms(values)
    assert ok.all() and np.array_equal(ms, np.arange(INSTANT, INSTANT + 50_000))


DECL = """
name: shop
base_url: http://x
streams:
  - name: orders
    endpoint: /orders
    records_path: data
    primary_key: id
    pagination: {style: single}
    table: orders
    columns:
      id: {required: true}
      placed_at: {type: timestamp, required: true}
      shipped_at: {type: timestamp}
"""


@given(instants, form_names, form_names)
@settings(max_examples=100, deadline=None)
def test_declared_timestamp_columns_read_every_form(ms: int, a: str, b: str) -> None:
    norm = DeclaredNormalizer(parse(DECL, "shop.yaml").stream("orders"))
    out = norm([{"id": 1, "placed_at": render(a, ms), "shipped_at": render(b, ms)}])
    assert out.rejects == []
    assert (out.columns["placed_at"], out.columns["shipped_at"]) == ([kept(a, ms)],
                                                                      [kept(b, ms)])


@given(instants, form_names, form_names)
@settings(max_examples=100, deadline=None)
def test_datasync_events_and_sessions_read_every_form(ms: int, a: str, b: str) -> None:
    ev = events([{"id": "e1", "sessionId": "s1", "userId": "u1", "type": "click",
                  "name": "cta", "timestamp": render(a, ms)}])
    assert ev.rejects == [] and ev.columns["occurred_at"].tolist() == [kept(a, ms)]
    se = sessions([{"id": "s1", "userId": "u1", "startedAt": render(a, ms),
                    "endedAt": render(b, ms)}])
    assert se.rejects == []
    assert (se.columns["started_at"].tolist(), se.columns["ended_at"].tolist()) == (
        [kept(a, ms)], [kept(b, ms)])


def test_an_unreadable_column_is_a_reject_naming_it() -> None:
    se = sessions([{"id": "s1", "userId": "u1", "startedAt": "soon", "endedAt": None}])
    assert [r.reason for r in se.rejects] == ["startedAt: unreadable timestamp (got 'soon')"]


def test_a_record_with_two_unreadable_columns_is_one_reject() -> None:
    se = sessions([{"id": "s1", "userId": "u1", "startedAt": "soon", "endedAt": "later"}])
    assert [r.reason for r in se.rejects] == [
        "startedAt: unreadable timestamp (got 'soon'); endedAt: unreadable timestamp "
        "(got 'later')"]


anything = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.text(max_size=12),
    st.builds(lambda f, ms: render(f, ms), form_names, instants),
    st.builds(str, st.integers(min_value=-(10**20), max_value=10**20)),
    st.builds(str, st.floats(allow_nan=False, allow_infinity=False)),
)


@given(st.lists(anything, min_size=1, max_size=20))
@settings(max_examples=500, deadline=None)
def test_one_value_reads_as_a_whole_page_reads_it(values: list[Any]) -> None:
    """``epoch.one_epoch_ms`` (no numpy, for the fetch function) is the page reader's rules,
    value by value: the same milliseconds, and the same values unreadable."""
    got, ok = to_epoch_ms(values)
    assert [one_epoch_ms(v) for v in values] == [
        int(g) if good else None for g, good in zip(got, ok, strict=True)], ascii(values)
