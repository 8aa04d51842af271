"""Query results of any size to a file, a batch at a time: ``tributary query --out`` and
Athena's ``UNLOAD`` both write through here.

Formats: ``parquet`` (typed), ``csv`` (a header, values quoted), ``lines`` (one row per
line, fields joined by a delimiter, ``\\N`` for null: Hive's text form, and with one column
simply one value per line) and ``json`` (a JSON object per line). Text is in Trino's forms
(``tributary.query.text``). ``compression``: ``NONE``, ``GZIP`` or ``ZSTD`` (Parquet also
``SNAPPY``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tributary.query.text import text_batch

Format = Literal["parquet", "csv", "lines", "json"]
FORMATS: tuple[str, ...] = ("parquet", "csv", "lines", "json")


def write(reader: pa.RecordBatchReader, path: Path, fmt: Format, compression: str = "NONE",
          delimiter: str = ",") -> int:
    """Every batch of ``reader`` to ``path``; the number of rows written."""
    return _WRITERS[fmt](reader, path, compression.upper(), delimiter)


def _stream(path: Path, compression: str) -> pa.NativeFile:
    codec = {"GZIP": "gzip", "ZSTD": "zstd"}.get(compression)
    return pa.output_stream(str(path), compression=codec)


def _parquet(reader: pa.RecordBatchReader, path: Path, compression: str, _: str) -> int:
    rows = 0
    codec = "none" if compression == "NONE" else compression.lower()
    with pq.ParquetWriter(str(path), reader.schema, compression=codec) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _csv(reader: pa.RecordBatchReader, path: Path, compression: str, delimiter: str) -> int:
    rows = 0
    schema = pa.schema([(n, pa.string()) for n in reader.schema.names])
    options = pacsv.WriteOptions(quoting_style="all_valid", delimiter=delimiter)
    with _stream(path, compression) as out, pacsv.CSVWriter(out, schema,
                                                             write_options=options) as csv:
        for batch in reader:
            csv.write_batch(text_batch(batch))
            rows += batch.num_rows
    return rows


def _lines(reader: pa.RecordBatchReader, path: Path, compression: str, delimiter: str) -> int:
    rows = 0
    with _stream(path, compression) as out:
        for batch in reader:
            cols = [pc.fill_null(c, "\\N") for c in text_batch(batch).columns]
            lines = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, delimiter)
            if batch.num_rows:
                out.write(("\n".join(lines.to_pylist()) + "\n").encode())
            rows += batch.num_rows
    return rows


def _json(reader: pa.RecordBatchReader, path: Path, compression: str, _: str) -> int:
    rows = 0
    with _stream(path, compression) as out:
        for batch in reader:
            out.write(b"".join(orjson.dumps(r, default=str) + b"\n"
                               for r in batch.to_pylist()))
            rows += batch.num_rows
    return rows


_WRITERS: dict[str, Callable[[pa.RecordBatchReader, Path, str, str], int]] = {
    "parquet": _parquet, "csv": _csv, "lines": _lines, "json": _json}
