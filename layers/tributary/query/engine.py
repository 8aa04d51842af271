"""DuckDB over every lake table and the PostgreSQL tables, read-only, with guard rails.

- The lake's tables and PostgreSQL (as ``pg``, a role that may only SELECT the data tables)
  are set up by ``tributary.query.catalog``, which keeps credentials out of sight.
- A query gets a memory limit and no spilling to disk; over it, a clear refusal.
- Only one SELECT per request runs. After setup, DuckDB's external access is switched off
  except for the lake's own prefix, and the configuration is locked, so no query can read
  local files, attach databases or turn the switch back.
- Results are capped, and a query is interrupted after the timeout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tributary.query.catalog import CatalogError, LakeViews, attach, quote
from tributary.settings import Settings

ALLOWED = {duckdb.StatementType.SELECT}


class QueryError(ValueError):
    """The query was refused or failed; the message is for the person who wrote it."""


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Engine:
    def __init__(self, settings: Settings, s3: Any, endpoint_url: str | None) -> None:
        self.settings = settings
        # In memory only, and no spilling: a query that needs more is refused, naming the limit.
        self.con = duckdb.connect(":memory:", config={
            "memory_limit": f"{settings.query_memory_mb}MB", "temp_directory": ""})
        try:
            attach(self.con, settings, endpoint_url)
        except CatalogError as exc:
            raise QueryError(str(exc)) from None
        self.views = LakeViews(self.con, settings, endpoint_url, s3=s3)
        self.refresh(force=True)
        self.con.execute(f"SET allowed_directories = [{quote(f's3://{settings.lake_bucket}/')}]")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    @property
    def lake_tables(self) -> list[str]:
        return self.views.names

    def refresh(self, force: bool = False) -> None:
        self.views.refresh(force=force)

    def tables(self) -> list[dict[str, Any]]:
        self.refresh()
        out: list[dict[str, Any]] = []
        for name in self.lake_tables:
            cols = self.con.execute(f'DESCRIBE "{name}"').fetchall()
            out.append({"name": name, "source": "lake",
                        "columns": [{"name": c[0], "type": c[1]} for c in cols]})
        for schema, table, column, dtype in self.con.execute(
                "SELECT table_schema, table_name, column_name, data_type "
                "FROM information_schema.columns WHERE table_catalog = 'pg' "
                "AND table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall():
            name = f"pg.{schema}.{table}"
            if not out or out[-1]["name"] != name:
                out.append({"name": name, "source": "postgres", "columns": []})
            out[-1]["columns"].append({"name": column, "type": dtype})
        return out

    def run(self, sql: str, params: list[Any] | None = None, arrow: bool = False,
            max_rows: int | None | bool = True) -> Result:
        """Run one read-only query; with ``arrow`` the rows come as a pyarrow table.

        ``max_rows``: the cap (True: the setting; None: no cap, for materializing models)."""
        self.refresh()
        try:
            statements = self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        if len(statements) != 1:
            raise QueryError(f"send exactly one statement (got {len(statements)})")
        kind = statements[0].type
        if kind not in ALLOWED:
            raise QueryError(f"only read-only SELECT queries are allowed; this is "
                             f"{kind.name}")
        cap = self.settings.query_max_rows if max_rows is True else max_rows
        timer = threading.Timer(self.settings.query_timeout_s, self.con.interrupt)
        started = time.perf_counter()
        timer.start()
        try:
            try:
                cursor = self.con.execute(sql, params or [])
            except duckdb.CatalogException:
                known = len(self.lake_tables)
                self.refresh(force=True)  # a table may have appeared this very moment
                if len(self.lake_tables) == known:
                    raise
                cursor = self.con.execute(sql, params or [])
            description = cursor.description or []
            if arrow:
                table = (cursor.fetch_arrow_table() if cap is None
                         else cursor.fetch_record_batch(cap + 1).read_all())
                rows, extra = [], {"arrow": table if cap is None else table.slice(0, cap)}
                count = table.num_rows
            else:
                rows = cursor.fetchall() if cap is None else cursor.fetchmany(cap + 1)
                extra, count = {}, len(rows)
        except duckdb.InterruptException:
            raise QueryError(f"query interrupted after the {self.settings.query_timeout_s:g} s "
                             "timeout") from None
        except duckdb.OutOfMemoryException:
            raise QueryError(f"the query needs more than its memory limit of "
                             f"{self.settings.query_memory_mb} MB (TRIBUTARY_QUERY_MEMORY_MB): "
                             "filter, aggregate or select fewer columns") from None
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        finally:
            timer.cancel()
        truncated = cap is not None and count > cap
        return Result(columns=[d[0] for d in description],
                      types=[str(d[1]) for d in description], rows=rows[:cap],
                      truncated=truncated, elapsed_ms=(time.perf_counter() - started) * 1000,
                      note=f"result cut at {cap} rows" if truncated else None, extra=extra)
