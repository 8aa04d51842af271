"""Results where Athena puts them, written as the rows stream in (never held whole).

- A query's rows go to ``<OutputLocation>/<id>.csv`` (a header, every value quoted, nulls
  empty) and to a local Arrow file that ``GetQueryResults`` pages through. Both are written
  beside their final names and uploaded (or renamed) only once the query has succeeded, so a
  failed query leaves no result file.
- ``UNLOAD`` writes Parquet (typed), TEXTFILE (one line per row) or JSON lines to its ``TO``
  location, which must be empty, as Athena requires, and lists what it wrote in
  ``<OutputLocation>/<id>-manifest.csv``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from localcloud.athena.dialect import Unload
from localcloud.athena.errors import QueryFailed
from localcloud.athena.types import column_info
from tributary.query import export
from tributary.query.text import text_batch

_EXTENSION = {"PARQUET": ".parquet", "TEXTFILE": "", "JSON": ".json"}
_EXPORT_FORMAT: dict[str, export.Format] = {"PARQUET": "parquet", "TEXTFILE": "lines",
                                            "JSON": "json"}
_SUFFIX = {"GZIP": ".gz", "ZSTD": ".zst", "SNAPPY": "", "NONE": ""}


@dataclass
class Written:
    columns: list[dict[str, Any]]
    rows: int


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@contextlib.contextmanager
def _parts(*paths: Path) -> Iterator[None]:
    """Files written under ``.part`` names; removed if anything fails before they are done."""
    try:
        yield
    except BaseException:
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(p) + ".part")
        raise


def write_select(reader: pa.RecordBatchReader, local: Path, output: str, s3: Any) -> Written:
    """The local Arrow copy at ``local`` (text), then from it the CSV at ``output``."""
    local.parent.mkdir(parents=True, exist_ok=True)
    csv_path = local.with_suffix(".csv")
    text_schema = pa.schema([(n, pa.string()) for n in reader.schema.names])
    rows = 0
    with _parts(local, csv_path):
        with pa.OSFile(f"{local}.part", "wb") as sink, \
                pa.ipc.new_file(sink, text_schema) as arrow:
            for batch in reader:
                arrow.write_batch(text_batch(batch))
                rows += batch.num_rows
        with pa.memory_map(f"{local}.part") as source:
            stored = pa.ipc.open_file(source)
            batches = (stored.get_batch(i) for i in range(stored.num_record_batches))
            export.write(pa.RecordBatchReader.from_batches(text_schema, batches),
                         Path(f"{csv_path}.part"), "csv")
        bucket, key = split(output)
        s3.upload_file(f"{csv_path}.part", bucket, key)
        os.replace(f"{local}.part", local)
        os.unlink(f"{csv_path}.part")
    return Written(column_info(reader.schema), rows)


def page(local: Path, offset: int, limit: int) -> list[list[str | None]]:
    """Rows ``offset`` .. ``offset + limit`` of a stored result (memory-mapped, not read)."""
    with pa.memory_map(str(local)) as source:
        table = pa.ipc.open_file(source).read_all().slice(offset, limit)
        return [list(r.values()) for r in table.to_pylist()]


def write_unload(reader: pa.RecordBatchReader, unload: Unload, scratch: Path, execution_id: str,
                 manifest: str, s3: Any) -> None:
    """Every row to one file under ``unload.location``; then the manifest."""
    bucket, prefix = split(unload.location)
    if s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
        raise QueryFailed(f"HIVE_PATH_ALREADY_EXISTS: Target directory for UNLOAD already "
                          f"exists: {unload.location} (UNLOAD writes only to an empty "
                          "location: remove what is there or choose another)")
    scratch.mkdir(parents=True, exist_ok=True)
    name = (f"{execution_id}_00000{_EXTENSION[unload.format]}"
            f"{_SUFFIX[unload.compression] if unload.format != 'PARQUET' else ''}")
    local = scratch / name
    with _parts(local):
        export.write(reader, Path(f"{local}.part"), _EXPORT_FORMAT[unload.format],
                     unload.compression, unload.delimiter)
        s3.upload_file(f"{local}.part", bucket, prefix + name)
        os.unlink(f"{local}.part")
    uri = unload.location + name
    mb, mk = split(manifest)
    s3.put_object(Bucket=mb, Key=mk, Body=(uri + "\n").encode())
