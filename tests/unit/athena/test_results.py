"""Results as Athena writes and pages them; values in Trino's text forms."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from moto import mock_aws

from localcloud.athena import results
from localcloud.athena.types import column_info
from tributary.query.text import text_batch

BUCKET = "results"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_values_take_trinos_text_forms() -> None:
    batch = pa.RecordBatch.from_pydict({
        "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 678901), None]),
        "flag": [True, False], "n": [1, None], "x": [1.5, 2.0],
        "d": pa.array([dt.date(2024, 1, 2), None]),
        "arr": [[1, 2], []], "row": [{"a": 1, "b": "x"}, {"a": None, "b": "y"}],
        "m": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
        "dec": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
    })
    text = text_batch(batch).to_pydict()
    assert text["ts"] == ["2024-01-02 03:04:05.678", None]
    assert text["flag"] == ["true", "false"] and text["n"] == ["1", None]
    assert text["d"] == ["2024-01-02", None] and text["dec"] == ["1.50", None]
    assert text["arr"] == ["[1, 2]", "[]"] and text["row"] == ["{a=1, b=x}", "{a=null, b=y}"]
    assert text["m"] == ["{k=1}", "{}"]
    types = [c["Type"] for c in column_info(batch.schema)]
    assert types == ["timestamp", "boolean", "bigint", "double", "date", "array", "row", "map",
                     "decimal"]


def test_a_result_is_paged_and_its_csv_quoted(tmp_path: Path, s3: Any) -> None:
    table = pa.table({"id": [f"e{i}" for i in range(2500)], "n": list(range(2500))})
    local = tmp_path / "q1.arrow"
    written = results.write_select(table.to_reader(max_chunksize=1000), local,
                                   f"s3://{BUCKET}/out/q1.csv", s3)
    assert written.rows == 2500 and [c["Name"] for c in written.columns] == ["id", "n"]
    assert results.page(local, 999, 3) == [["e999", "999"], ["e1000", "1000"],
                                           ["e1001", "1001"]]
    body = s3.get_object(Bucket=BUCKET, Key="out/q1.csv")["Body"].read().decode().splitlines()
    assert body[:2] == ['"id","n"', '"e0","0"'] and len(body) == 2501
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q1.arrow"]  # no leftovers


def test_a_query_failing_midway_leaves_no_result(tmp_path: Path, s3: Any) -> None:
    schema = pa.schema([("n", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise RuntimeError("the engine failed")

    with pytest.raises(RuntimeError):
        results.write_select(pa.RecordBatchReader.from_batches(schema, batches()),
                             tmp_path / "q2.arrow", f"s3://{BUCKET}/out/q2.csv", s3)
    assert list(tmp_path.iterdir()) == []
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
