"""This machine's ceiling: PostgreSQL alone loading the rows a pipeline just loaded.

The table's rows are dumped to a file, then COPYed into an empty copy of the table (same
columns, primary key and indexes) a page at a time, one transaction each, as the transform
loads them. Nothing else runs meanwhile, so the rate is what the database can take here;
a pipeline's rate reads as a share of it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import psutil
import psycopg
from psycopg import sql


@dataclass
class Ceiling:
    rows: int
    seconds: float
    cpu_us_per_row: float  # the loading backend's CPU

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def measure(dsn: str, table: str, page_rows: int = 10_000) -> Ceiling:
    copy = f"{table}_ceiling"
    with psycopg.connect(dsn, autocommit=True) as conn, \
            tempfile.TemporaryDirectory(prefix="tributary-ceiling-") as tmp:
        dump = Path(tmp) / "rows.txt"
        with dump.open("wb") as out, conn.cursor().copy(
                sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as rows:
            for chunk in rows:
                out.write(chunk)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(copy)))
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
            sql.Identifier(copy), sql.Identifier(table)))
        try:
            return _load(conn, dump, copy, page_rows)
        finally:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(copy)))


def _load(conn: psycopg.Connection[tuple[object, ...]], dump: Path, table: str,
          page_rows: int) -> Ceiling:
    backend = psutil.Process(conn.info.backend_pid)
    cpu0, rows, started = sum(backend.cpu_times()[:2]), 0, time.perf_counter()
    statement = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
    with dump.open("rb") as lines:  # COPY's text format: one row per line
        while page := list(islice(lines, page_rows)):
            with conn.transaction(), conn.cursor().copy(statement) as copy:
                copy.write(b"".join(page))
            rows += len(page)
    seconds = time.perf_counter() - started
    cpu = sum(backend.cpu_times()[:2]) - cpu0
    return Ceiling(rows, seconds, cpu / max(1, rows) * 1e6)
