"""Bodies that are not one JSON document (JSON lines, CSV, gzip), and the declared filter and
map steps, as the fetch and the transform apply them."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from pydantic import ValidationError

from tributary.load.tables import from_stream
from tributary.sources.decoders import Decoder, UndecodableBody, decode
from tributary.sources.spec import Stream
from tributary.sources.steps import Condition, RecordMap, kept

CSV = "\ufeffid,name,amount\r\n1,Ann,12\r\n2,\"Bo, Jr.\",7\r\n".encode()


def test_each_format_decodes_to_records_gzipped_or_not() -> None:
    rows = [{"id": "1", "name": "Ann", "amount": "12"}, {"id": "2", "name": "Bo, Jr.",
                                                        "amount": "7"}]
    csv = Decoder(format="csv")
    assert decode(CSV, csv) == rows
    assert decode(gzip.compress(CSV), csv) == rows  # auto: gzip told by its magic bytes
    jsonl = Decoder(format="jsonl")
    assert decode(b'{"id": 1}\n\n{"id": 2}\n', jsonl) == [{"id": 1}, {"id": 2}]
    assert decode(b'{"data": [1]}') == {"data": [1]}
    assert decode(b"id;n\n1;\n", Decoder(format="csv", delimiter=";")) == [{"id": "1",
                                                                           "n": None}]


@pytest.mark.parametrize(("raw", "decoder", "says"), [
    (b'{"id": 1}\n{"id": ', Decoder(format="jsonl"), "not jsonl"),
    (b"id,name\n1,a,extra\n", Decoder(format="csv"), "CSV line 2 has more cells"),
    (b"\x1f\x8b broken", Decoder(), "not gzip"),
    (b"plain", Decoder(compression="gzip"), "not gzip"),
    (b"\xff\xfe,x", Decoder(format="csv", compression="none"), "not UTF-8"),
])
def test_a_body_that_does_not_decode_says_why(raw: bytes, decoder: Decoder, says: str) -> None:
    with pytest.raises(UndecodableBody, match=says):
        decode(raw, decoder)


def test_conditions_hold_as_declared() -> None:
    record = {"status": "paid", "meta": {"deleted_at": None, "region": "eu"}}
    assert Condition(path="status", equals="paid").holds(record)
    assert Condition.model_validate({"path": "meta.region", "in": ["eu", "us"]}).holds(record)
    assert not Condition(path="status", not_in=["paid", "void"]).holds(record)
    assert not Condition(path="meta.deleted_at", present=True).holds(record)
    assert Condition(path="missing", not_equals="x").holds(record)
    assert kept([], record) and not kept([Condition(path="status", equals="void")], record)
    with pytest.raises(ValidationError, match="exactly one of"):
        Condition(path="status", equals="a", not_equals="b")
    with pytest.raises(ValidationError, match="exactly one of"):
        Condition(path="status")


def test_a_map_renames_sets_and_removes() -> None:
    m = RecordMap(rename={"amt": "amount", "price.cents": "cents"}, set={"origin": "api"},
                  remove=["secret"])
    out = m.apply({"amt": 5, "price": {"cents": 120}, "secret": "x", "id": 1})
    assert out == {"amount": 5, "price": {"cents": 120}, "cents": 120, "origin": "api", "id": 1}
    assert m.apply(["not", "a", "record"]) == ["not", "a", "record"]


def _stream(**extra: Any) -> Stream:
    return Stream.model_validate({
        "name": "payments", "endpoint": "/export", "records_path": "", "primary_key": "id",
        "pagination": {"style": "single"}, "table": "payments",
        "columns": {"id": {}, "amount": {"type": "bigint"}}} | extra)


def test_the_table_carries_the_streams_decoder_filter_and_map() -> None:
    table = from_stream(_stream(decoder={"format": "csv"},
                                filter=[{"path": "status", "not_in": ["void"]}],
                                map={"rename": {"amt": "amount"}}))
    assert table.decoder.format == "csv"
    assert table.loads({"status": "paid"}) and not table.loads({"status": "void"})
    assert table.reshaped({"amt": "3"}) == {"amount": "3"}


def test_a_line_format_is_its_records() -> None:
    with pytest.raises(ValidationError, match="records_path ''"):
        _stream(decoder={"format": "jsonl"}, records_path="data")
    with pytest.raises(ValidationError, match="error_path reads a JSON answer"):
        _stream(decoder={"format": "csv"}, error_path="errors")
