"""Curated Parquet in the lake: ``<table>/dt=<YYYY-MM-DD>/part-<page>.parquet``.

A file's name comes from the raw page that produced it, so writing it again (after a crash)
replaces it instead of adding a second copy.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.load.tables import Table


def lake_key(table: Table, day: str, raw_key: str) -> str:
    page = hashlib.sha1(raw_key.encode()).hexdigest()[:20]  # noqa: S324 - a name, not security
    return f"{table.name}/dt={day}/part-{page}.parquet"


def write(s3: Any, bucket: str, table: Table, data: pa.Table, raw_key: str) -> list[str]:
    """One Parquet file per day present in ``data``; returns the keys written."""
    if data.num_rows == 0:
        return []
    days = pc.strftime(data[table.partition_by], format="%Y-%m-%d")  # the column is UTC
    keys = []
    for day in sorted(pc.unique(days).to_pylist()):
        part = data.filter(pc.equal(days, day))
        buf = io.BytesIO()
        pq.write_table(part, buf, compression="zstd")
        key = lake_key(table, day, raw_key)
        s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
        keys.append(key)
    return keys
