"""The Glue catalog follows the lake: tables appear, change and go, each sync idempotent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from moto.server import ThreadedMotoServer

from tributary.load.lake import Lake
from tributary.query.glue import DATABASE, sync


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def aws() -> Iterator[tuple[Lake, Any]]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1",
                          "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    boto3.client("s3", **kw).create_bucket(Bucket="glue-lake")
    yield Lake("glue-lake", "us-east-1", url), boto3.client("glue", **kw)
    server.stop()


def _events(extra: dict[str, pa.Array] | None = None) -> pa.Table:
    return pa.table({"id": ["a"], "n": pa.array([1], pa.int64()),
                     "at": pa.array([1_790_812_800_000], pa.timestamp("ms", tz="UTC")),
                     "dt": pa.array(["2026-10-01"]).cast(pa.date32()), **(extra or {})})


def test_each_lake_table_is_a_glue_table_athena_reads_as_delta(aws: tuple[Lake, Any]) -> None:
    lake, glue = aws
    lake.append("events", _events(), ["dt"], "page-1")
    assert sync(glue, lake, ["events", "not_delta"]) == {
        "created": ["events"], "updated": [], "unchanged": [], "deleted": []}
    table = glue.get_table(DatabaseName=DATABASE, Name="events")["Table"]
    assert table["Parameters"]["table_type"] == "DELTA"
    assert table["StorageDescriptor"]["Location"] == "s3://glue-lake/events/"
    assert table["StorageDescriptor"]["Columns"] == [
        {"Name": "id", "Type": "string"}, {"Name": "n", "Type": "bigint"},
        {"Name": "at", "Type": "timestamp"}]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "date"}]
    assert sync(glue, lake, ["events"])["unchanged"] == ["events"]  # nothing to write again


def test_a_new_column_updates_the_table_and_a_gone_table_is_dropped(
        aws: tuple[Lake, Any]) -> None:
    lake, glue = aws
    lake.append("events", _events(), ["dt"], "page-1")
    sync(glue, lake, ["events"])
    write_deltalake(lake.uri("events"), _events({"flag": pa.array([True])}), mode="append",
                    schema_mode="merge", partition_by=["dt"], storage_options=lake.options)
    assert sync(glue, lake, ["events"])["updated"] == ["events"]
    columns = glue.get_table(DatabaseName=DATABASE, Name="events")["Table"][
        "StorageDescriptor"]["Columns"]
    assert {"Name": "flag", "Type": "boolean"} in columns
    assert sync(glue, lake, [])["deleted"] == ["events"]
    assert glue.get_tables(DatabaseName=DATABASE)["TableList"] == []
