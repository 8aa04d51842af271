"""The curated tables, built from the source declarations: one spec per stream drives DDL,
COPY, upsert and Parquet alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tributary.normalize.declared import Normalizer, normalizer
from tributary.sources import loader
from tributary.sources.decoders import JSON, Decoder
from tributary.sources.paths import RecordsPath
from tributary.sources.spec import Stream
from tributary.sources.steps import Condition, RecordMap, kept

MS_UTC = pa.timestamp("ms", tz="UTC")
INGESTED = "_ingested_at"  # the lake partitions by it when a stream declares no time column
# A declared column type -> (its PostgreSQL type, its Arrow type); live copies use it too.
COLUMN_TYPES: dict[str, tuple[str, pa.DataType]] = {
    "text": ("text", pa.string()), "bigint": ("bigint", pa.int64()),
    "double": ("double precision", pa.float64()), "boolean": ("boolean", pa.bool_()),
    "timestamp": ("timestamptz", MS_UTC), "json": ("jsonb", pa.string())}


@dataclass(frozen=True)
class TableColumn:
    name: str
    pg: str  # PostgreSQL type
    arrow: pa.DataType

    @property
    def is_time(self) -> bool:
        return bool(self.arrow == MS_UTC)


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # the upstream's id: primary key, text
    columns: tuple[TableColumn, ...]
    partition_by: str  # the time column whose UTC day is the lake's dt= partition
    normalize: Normalizer
    records: RecordsPath
    snapshot: bool = False  # each page is the whole dataset: absent rows vanished
    immutable: bool = False  # a record never changes: loaded once, never compared
    decoder: Decoder = JSON  # how its raw pages read
    filter: tuple[Condition, ...] = ()  # only records these hold for are loaded
    mapping: RecordMap | None = None  # reshaping before validation

    def loads(self, record: Any) -> bool:
        """Whether the declared filter keeps the record."""
        return kept(self.filter, record)

    def reshaped(self, record: Any) -> Any:
        return self.mapping.apply(record) if self.mapping else record

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow) for c in self.columns])

    @property
    def history(self) -> str:
        return f"{self.name}_history"


def from_stream(stream: Stream) -> Table:
    cols = [TableColumn(name, *COLUMN_TYPES[stream.stored_type(name)]) for name in stream.columns]
    if isinstance(stream.primary_key, list):
        cols.insert(0, TableColumn("_key", *COLUMN_TYPES["text"]))
    if stream.keep_extra:
        cols.append(TableColumn("extra", *COLUMN_TYPES["json"]))
    return Table(stream.table, stream.key_column, tuple(cols),
                 stream.partition_by or INGESTED, normalizer(stream), stream.records,
                 stream.is_snapshot, stream.immutable, stream.decoder, tuple(stream.filter),
                 stream.map)


def from_rows(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows fetched from PostgreSQL (in ``schema``'s column order) as an Arrow table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(list(col), type=f.type) for col, f in zip(columns, schema,
                     strict=True)], schema=schema)


@loader.per_declarations
def table_for(source: str, stream: str) -> Table:
    return from_stream(loader.stream(source, stream)[1])


def all_tables() -> list[tuple[str, str, Table]]:
    """Every declared (source, stream, table)."""
    return [(src.name, s.name, table_for(src.name, s.name))
            for src in loader.sources().values() for s in src.streams]
