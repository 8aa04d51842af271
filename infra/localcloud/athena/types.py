"""Columns and values as Athena states them: Trino's type names, every value as text.

Athena's results are text (``VarCharValue``), in Trino's forms: timestamps to the
millisecond, ``true``/``false``, arrays as ``[1, 2]``, rows and maps as ``{k=v}``. One
conversion serves both ``GetQueryResults`` and the CSV file, so they always agree.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_SIMPLE = {
    pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "integer", pa.int64(): "bigint",
    pa.uint8(): "smallint", pa.uint16(): "integer", pa.uint32(): "bigint",
    pa.uint64(): "bigint", pa.float32(): "real", pa.float64(): "double",
    pa.bool_(): "boolean", pa.string(): "varchar", pa.large_string(): "varchar",
    pa.string_view(): "varchar", pa.binary(): "varbinary", pa.large_binary(): "varbinary",
    pa.date32(): "date", pa.null(): "unknown",
}


def athena_type(t: pa.DataType) -> str:
    if t in _SIMPLE:
        return _SIMPLE[t]
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "array"
    if pa.types.is_map(t):
        return "map"
    if pa.types.is_struct(t):
        return "row"
    return "varchar"


def column_info(schema: pa.Schema) -> list[dict[str, Any]]:
    """``ResultSetMetadata.ColumnInfo`` for a result's columns."""
    out = []
    for f in schema:
        precision, scale = ((f.type.precision, f.type.scale) if pa.types.is_decimal(f.type)
                            else (_precision(f.type), 0))
        out.append({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": f.name,
                    "Label": f.name, "Type": athena_type(f.type), "Precision": precision,
                    "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive":
                    athena_type(f.type) == "varchar"})
    return out


def _precision(t: pa.DataType) -> int:
    if pa.types.is_integer(t):
        return {1: 3, 2: 5, 4: 10, 8: 19}[t.bit_width // 8]
    if pa.types.is_floating(t):
        return 17 if t.bit_width == 64 else 9
    return 2147483647 if athena_type(t) == "varchar" else 0


def as_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """One column's values in Athena's text forms (nulls stay null)."""
    t = column.type
    if pa.types.is_timestamp(t):
        ms = pc.cast(column, pa.timestamp("ms", t.tz), safe=False)
        return pc.strftime(ms, "%Y-%m-%d %H:%M:%S" + (" %Z" if t.tz else ""))
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or \
            pa.types.is_decimal(t) or pa.types.is_date(t) or pa.types.is_string(t) or \
            pa.types.is_large_string(t) or pa.types.is_time(t):
        return pc.cast(column, pa.string())
    return pa.array([None if v is None else _value(v) for v in column.to_pylist()],
                    pa.string())


def _value(v: Any) -> str:
    """Trino's text for a nested value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list) and v and isinstance(v[0], tuple):  # a map, as pyarrow gives it
        return "{" + ", ".join(f"{_value(k)}={_value(x)}" for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ", ".join("null" if x is None else _value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={'null' if x is None else _value(x)}"
                               for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return v.hex(" ")
    return str(v)


def text_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch with every column as text."""
    return pa.RecordBatch.from_arrays([as_text(c) for c in batch.columns],
                                      names=batch.schema.names)
