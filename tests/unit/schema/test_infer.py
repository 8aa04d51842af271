"""Columns and types inferred from records: first type wins, lossless widening, variants
for clashes, nested objects as JSON or flattened, declared hints win."""

from __future__ import annotations

from typing import Any

import pytest

from tributary.schema.infer import Inference, type_of, variant_name


@pytest.mark.parametrize(("value", "kind"), [
    (True, "boolean"), (0, "bigint"), (2**62, "bigint"), (1.5, "double"), (1.0, "double"),
    ("hello", "text"), ("2024-05-01T10:00:00Z", "timestamp"),
    ("2024-05-01 10:00:00.123456+02:00", "timestamp"), ("Wed, 21 Oct 2015 07:28:00 GMT",
                                                         "timestamp"),
    # Not instants: a bare date, digits, an epoch number, an impossible date, a word.
    ("2024-05-01", "text"), ("1714557600", "text"), (1714557600, "bigint"),
    ("2024-13-45T99:00:00Z", "text"), ("Mon, not a date", "text"),
    ({"a": 1}, "json"), ([1, 2], "json"), (None, None),
])
def test_a_value_asks_for_its_type(value: Any, kind: str | None) -> None:
    assert type_of(value) == kind


def _schema(records: list[dict[str, Any]], **kw: Any) -> dict[str, tuple[str, str, dict[str,
                                                                                        int]]]:
    inf = Inference(**kw).add_all(records)
    return {c.name: (c.type, c.source, c.variants) for c in inf.columns}


def test_first_seen_type_wins_and_clashes_become_variants() -> None:
    got = _schema([{"id": 1, "price": 10, "note": "a", "at": "2024-01-01T00:00:00Z"},
                   {"id": 2, "price": 10.5, "note": 7, "at": "yesterday"},
                   {"id": 3, "price": "n/a", "riskScore": 0.3}])
    assert got == {
        "id": ("bigint", "id", {}),
        "price": ("double", "price", {"text": 1}),  # bigint widened; the text is a variant
        "note": ("text", "note", {"bigint": 1}),
        "at": ("timestamp", "at", {"text": 1}),
        "risk_score": ("double", "riskScore", {}),  # a field that appeared later
    }
    assert variant_name("price", "text") == "price__v_text"


def test_nulls_choose_nothing_and_the_order_is_kept() -> None:
    inf = Inference().add_all([{"b": None, "a": 1}, {"b": None}, {"b": True}])
    assert [(c.name, c.type, c.nulls, c.seen) for c in inf.columns] == [
        ("b", "boolean", 2, 1), ("a", "bigint", 0, 1)]
    assert inf.records == 3


def test_nested_objects_stay_json_or_flatten_to_a_depth() -> None:
    records = [{"id": "x", "customer": {"name": "Ann", "address": {"city": "Oslo",
                                                                   "geo": {"lat": 1.5}}},
                "lines": [{"sku": "a"}]}]
    assert _schema(records) == {"id": ("text", "id", {}), "customer": ("json", "customer", {}),
                                "lines": ("json", "lines", {})}
    assert _schema(records, nesting="flatten", max_depth=2) == {
        "id": ("text", "id", {}),
        "customer__name": ("text", "customer.name", {}),
        "customer__address__city": ("text", "customer.address.city", {}),
        "customer__address__geo": ("json", "customer.address.geo", {}),  # deeper: JSON
        "lines": ("json", "lines", {}),
    }


def test_names_that_collide_are_made_unique() -> None:
    got = _schema([{"userId": 1, "user_id": 2, "User-ID": 3}])
    assert {name: v[1] for name, v in got.items()} == {
        "user_id": "userId", "user_id_2": "user_id", "user_id_3": "User-ID"}


def test_a_declared_type_wins_and_takes_what_its_normalizer_reads() -> None:
    got = _schema([{"id": "7", "at": 1714557600, "n": "12"}, {"id": 8, "at": "soon", "n": 1.5}],
                  hints={"id": "bigint", "at": "timestamp", "n": "text"})
    assert got == {"id": ("bigint", "id", {}), "at": ("timestamp", "at", {"text": 1}),
                   "n": ("text", "n", {})}
