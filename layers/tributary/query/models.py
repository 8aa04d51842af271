"""Analytic models: SQL files (``analytics/<name>.sql``) materialized into the lake.

Each model is one read-only SELECT, run with the same guard rails as any query (but without
the row cap), and written to ``s3://<lake>/<name>/part-0.parquet``, replacing the previous
result, so it is queryable as the table ``<name>``.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tributary.query.engine import Engine, QueryError


@dataclass(frozen=True)
class ModelRun:
    name: str
    rows: int
    key: str | None  # None: skipped
    elapsed_ms: float
    skipped: str | None = None  # why: a table it reads is not in the lake yet


def discover(folder: Path) -> list[tuple[str, str]]:
    models = []
    for path in sorted(folder.glob("*.sql")):
        name = path.stem
        if not name.replace("_", "").isalnum():
            raise QueryError(f"{path.name}: a model's name must be letters, digits and _")
        models.append((name, path.read_text()))
    return models


def run_models(engine: Engine, s3: Any, bucket: str, folder: Path) -> list[ModelRun]:
    runs = []
    for name, sql in discover(folder):
        started = time.perf_counter()
        try:
            table = engine.run(sql, arrow=True, max_rows=None).extra["arrow"]
        except QueryError as exc:
            if str(exc).startswith("Catalog Error"):  # its inputs have not landed yet
                runs.append(ModelRun(name, 0, None, 0.0, str(exc).splitlines()[0]))
                continue
            raise QueryError(f"model {name}: {exc}") from None
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        key = f"{name}/part-0.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
        runs.append(ModelRun(name, table.num_rows, key, (time.perf_counter() - started) * 1000))
    return runs
