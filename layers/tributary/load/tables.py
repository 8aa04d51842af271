"""The curated tables: one spec per stream drives DDL, COPY, upsert and Parquet alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tributary.normalize import datasync
from tributary.normalize.datasync import Normalized

MS_UTC = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    pg: str  # PostgreSQL type
    arrow: pa.DataType

    @property
    def is_time(self) -> bool:
        return bool(self.arrow == MS_UTC)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    partition_by: str  # the time column whose UTC day is the lake's dt= partition
    normalize: Callable[[list[Any]], Normalized]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow) for c in self.columns])


def _c(name: str, pg: str, arrow: pa.DataType) -> Column:
    return Column(name, pg, arrow)


TABLES: dict[tuple[str, str], Table] = {
    ("datasync", "events"): Table("events", (
        _c("id", "text", pa.string()),
        _c("session_id", "text", pa.string()),
        _c("user_id", "text", pa.string()),
        _c("type", "text", pa.string()),
        _c("name", "text", pa.string()),
        _c("properties", "jsonb", pa.string()),
        _c("occurred_at", "timestamptz", MS_UTC),
        _c("device_type", "text", pa.string()),
        _c("browser", "text", pa.string()),
    ), "occurred_at", datasync.events),
    ("datasync", "sessions"): Table("sessions", (
        _c("id", "text", pa.string()),
        _c("user_id", "text", pa.string()),
        _c("device_type", "text", pa.string()),
        _c("browser", "text", pa.string()),
        _c("os", "text", pa.string()),
        _c("country", "text", pa.string()),
        _c("city", "text", pa.string()),
        _c("started_at", "timestamptz", MS_UTC),
        _c("ended_at", "timestamptz", MS_UTC),
        _c("duration_s", "bigint", pa.int64()),
        _c("event_count", "bigint", pa.int64()),
    ), "started_at", datasync.sessions),
}


def from_rows(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows fetched from PostgreSQL (in ``schema``'s column order) as an Arrow table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(list(col), type=f.type) for col, f in zip(columns, schema,
                     strict=True)], schema=schema)


def table_for(source: str, stream: str) -> Table:
    try:
        return TABLES[(source, stream)]
    except KeyError:
        raise ValueError(f"no table for {source}/{stream}") from None
