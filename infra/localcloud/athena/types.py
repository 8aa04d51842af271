"""Columns as Athena states them: Trino's type names, precision and scale.

Values are text (``VarCharValue``), converted by ``tributary.query.text``; one conversion
serves both ``GetQueryResults`` and the CSV file, so they always agree.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

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
