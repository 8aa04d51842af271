"""Curated Parquet in the lake: ``<table>/dt=<YYYY-MM-DD>/part-<page>.parquet``.

A file's name comes from the raw page that produced it, so writing it again (after a crash)
replaces it instead of adding a second copy. Snapshot tables keep one current copy
(``<table>/current.parquet``, replaced whole) beside their history table.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.load import postgres
from tributary.load.tables import Table


def lake_key(name: str, day: str, raw_key: str) -> str:
    page = hashlib.sha1(raw_key.encode()).hexdigest()[:20]  # noqa: S324 - a name, not security
    return f"{name}/dt={day}/part-{page}.parquet"


def _put(s3: Any, bucket: str, key: str, data: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(data, buf, compression="zstd")
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def write(s3: Any, bucket: str, name: str, partition_by: str, data: pa.Table, raw_key: str
          ) -> list[str]:
    """One Parquet file per day of ``partition_by`` in ``data``; returns the keys written."""
    if data.num_rows == 0:
        return []
    days = pc.strftime(data[partition_by], format="%Y-%m-%d")  # the column is UTC
    keys = []
    for day in sorted(pc.unique(days).to_pylist()):
        key = lake_key(name, day, raw_key)
        _put(s3, bucket, key, data.filter(pc.equal(days, day)))
        keys.append(key)
    return keys


def write_page(s3: Any, bucket: str, conn: psycopg.Connection[Any], table: Table,
               raw_key: str, changed: pa.Table | None = None) -> list[str]:
    """The lake files of one loaded page: the rows it changed (read back from PostgreSQL
    unless given); for a snapshot, its history entries and the new current copy."""
    if not table.snapshot:
        rows = changed if changed is not None else postgres.rows_of_page(conn, table, raw_key)
        return write(s3, bucket, table.name, table.partition_by, rows, raw_key)
    history = postgres.history_of_page(conn, table, raw_key)
    keys = write(s3, bucket, table.history, "seen_at", history, raw_key)
    if history.num_rows:  # readers see the old copy or the new one: one object, replaced
        current = f"{table.name}/current.parquet"
        _put(s3, bucket, current, postgres.current_rows(conn, table))
        keys.append(current)
    return keys
