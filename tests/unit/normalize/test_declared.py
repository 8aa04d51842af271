"""Records -> columns from a declaration: renames, casts, timestamps, extras, rejects."""

from __future__ import annotations

import orjson

from tributary.normalize.declared import DeclaredNormalizer
from tributary.sources.loader import parse

DECL = """
name: shop
base_url: http://x
streams:
  - name: orders
    endpoint: /orders
    records_path: data
    primary_key: order_id
    pagination: {style: single}
    table: orders
    keep_extra: true
    drop: [secret]
    columns:
      order_id: {from: id, required: true}
      total: {type: double, from: amount.value}
      items: {type: bigint}
      paid: {type: boolean}
      placed_at: {type: timestamp, from: ts, required: true}
      shipped_at: {type: timestamp}
      meta: {type: json}
"""


def _normalize(records: list[object]):  # type: ignore[no-untyped-def]
    return DeclaredNormalizer(parse(DECL, "shop.yaml").stream("orders"))(records)


def test_renames_casts_and_timestamp_forms() -> None:
    out = _normalize([
        {"id": 7, "amount": {"value": "12.5"}, "items": "3", "paid": True,
         "ts": "2026-10-01T00:00:00Z", "meta": {"b": 1, "a": 2}, "note": "hi", "secret": "x"},
        {"id": "o2", "ts": 1790812800, "shipped_at": "2026-10-01T02:00:00+02:00"},
    ])
    assert out.rejects == []
    c = out.columns
    assert c["order_id"] == ["7", "o2"]  # ids are text, even when sent as numbers
    assert c["total"] == [12.5, None] and c["items"] == [3, None] and c["paid"] == [True, None]
    assert c["placed_at"] == [1790812800000, 1790812800000]
    assert c["shipped_at"] == [None, 1790812800000]
    assert c["meta"] == ['{"a":2,"b":1}', None]
    # Undeclared fields are kept (less the dropped ones and the ones columns read).
    assert [orjson.loads(x) for x in c["extra"]] == [{"note": "hi"}, {}]


def test_bad_records_become_rejects_naming_the_field_and_keep_what_was_sent() -> None:
    bad_type = {"id": "o3", "ts": 1790812800, "items": "many"}
    missing = {"ts": 1790812800}
    bad_time = {"id": "o5", "ts": "yesterday"}
    out = _normalize([{"id": "ok", "ts": 1790812800}, bad_type, missing, bad_time, "junk"])
    assert out.columns["order_id"] == ["ok"]
    reasons = {r.index: (r.record_id, r.reason, r.record) for r in out.rejects}
    assert reasons[1][1].startswith("items: Input should be a valid integer")
    assert reasons[1][2] is bad_type
    assert reasons[2][1] == "order_id: Field required"
    assert reasons[3] == ("o5", "placed_at: unreadable timestamp (got 'yesterday')", bad_time)
    assert reasons[4][1].startswith("record: Input should be a valid dictionary")
