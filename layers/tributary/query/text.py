"""Values as text in Trino's (and so Athena's) forms: timestamps to the millisecond,
``true``/``false``, arrays as ``[1, 2]``, rows and maps as ``{k=v}``. Athena's results, its
UNLOAD text files and ``tributary query --out`` all use this one conversion.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


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
    return pa.array([None if v is None else _value(v, t) for v in column.to_pylist()],
                    pa.string())


def _value(v: Any, t: pa.DataType) -> str:
    """Trino's text for a value of type ``t`` (nested ones included)."""
    if v is None:
        return "null"
    if pa.types.is_map(t):
        return "{" + ", ".join(f"{_value(k, t.key_type)}={_value(x, t.item_type)}"
                               for k, x in v) + "}"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "[" + ", ".join(_value(x, t.value_type) for x in v) + "]"
    if pa.types.is_struct(t):
        return "{" + ", ".join(f"{f.name}={_value(v[f.name], f.type)}" for f in t) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return v.hex(" ")
    return str(v)


def text_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch with every column as text."""
    return pa.RecordBatch.from_arrays([as_text(c) for c in batch.columns],
                                      names=batch.schema.names)
