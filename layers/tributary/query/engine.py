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

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from tributary.query.catalog import CatalogError, LakeViews, attach, named, quote
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
    """``schema``: where the lake's views live, and the first place a bare name is looked up
    (the HTTP API uses ``main``; the Athena service ``tributary``, the Glue database)."""

    def __init__(self, settings: Settings, s3: Any, endpoint_url: str | None,
                 schema: str = "main") -> None:
        self.settings = settings
        # In memory only, and no spilling: a query that needs more is refused, naming the limit.
        self.con = duckdb.connect(":memory:", config={
            "memory_limit": f"{settings.query_memory_mb}MB", "temp_directory": ""})
        try:
            attach(self.con, settings, endpoint_url)
        except CatalogError as exc:
            raise QueryError(str(exc)) from None
        self.views = LakeViews(self.con, settings, endpoint_url, schema=schema, s3=s3)
        self.views.discover(force=True)
        self.con.execute(f"SET search_path = {quote(schema + ',main')}")
        self.con.execute(f"SET allowed_directories = [{quote(f's3://{settings.lake_bucket}/')}]")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self._stopped = False

    @property
    def lake_tables(self) -> list[str]:
        return self.views.names

    @property
    def skipped(self) -> list[dict[str, str]]:
        """The lake bucket's prefixes that are no table, and why."""
        return [{"name": n, "reason": why} for n, why in sorted(self.views.skipped.items())]

    def refresh(self, force: bool = False) -> None:
        self.views.refresh(force=force)

    def tables(self) -> list[dict[str, Any]]:
        """Every table a query can read, with its columns; a lake table that cannot be read
        is left out and listed in ``skipped``."""
        self.views.discover()
        out: list[dict[str, Any]] = []
        for name in self.lake_tables:
            try:
                self.views.prepare([name])
            except CatalogError as exc:
                self.views.skipped[name] = str(exc)
                continue
            out.append({"name": name, "source": "lake", "columns": [
                {"name": c, "type": t} for c, t in self.views.columns(name)]})
        for schema, table, column, dtype in self.con.execute(
                "SELECT table_schema, table_name, column_name, data_type "
                "FROM information_schema.columns WHERE table_catalog = 'pg' "
                "AND table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall():
            name = f"pg.{schema}.{table}"
            if not out or out[-1]["name"] != name:
                out.append({"name": name, "source": "postgres", "columns": []})
            out[-1]["columns"].append({"name": column, "type": dtype})
        return out

    def stop(self) -> None:
        """Interrupt the query under way (from another thread)."""
        self._stopped = True
        self.con.interrupt()

    def run(self, sql: str, params: list[Any] | None = None, arrow: bool = False,
            max_rows: int | None | bool = True) -> Result:
        """Run one read-only query; with ``arrow`` the rows come as a pyarrow table.

        ``max_rows``: the cap (True: the setting; None: no cap, for materializing models)."""
        cap = self.settings.query_max_rows if max_rows is True else max_rows
        started = time.perf_counter()
        with self._guarded():
            cursor = self._execute(sql, params)
            description = cursor.description or []
            if arrow:
                table = (cursor.fetch_arrow_table() if cap is None
                         else cursor.fetch_record_batch(cap + 1).read_all())
                rows, extra = [], {"arrow": table if cap is None else table.slice(0, cap)}
                count = table.num_rows
            else:
                rows = cursor.fetchall() if cap is None else cursor.fetchmany(cap + 1)
                extra, count = {}, len(rows)
        truncated = cap is not None and count > cap
        return Result(columns=[d[0] for d in description],
                      types=[str(d[1]) for d in description], rows=rows[:cap],
                      truncated=truncated, elapsed_ms=(time.perf_counter() - started) * 1000,
                      note=f"result cut at {cap} rows" if truncated else None, extra=extra)

    @contextlib.contextmanager
    def stream(self, sql: str, params: list[Any] | None = None, batch_rows: int = 65_536,
               stopped: Callable[[], bool] | None = None) -> Iterator[pa.RecordBatchReader]:
        """Any number of rows, a batch at a time, under the same rules and timeout: for
        exports, never held in memory whole. Reading a batch may raise ``QueryError``.
        ``stopped`` is asked once more just before the statement starts: a stop that came
        while the engine was getting ready had no statement to interrupt."""
        with self._guarded():
            yield self._execute(sql, params, stopped).fetch_record_batch(batch_rows)

    def _execute(self, sql: str, params: list[Any] | None,
                 stopped: Callable[[], bool] | None = None) -> duckdb.DuckDBPyConnection:
        """One read-only statement, started, after the views it names are brought up to date
        (only those); a table that appeared this moment is found."""
        statements = self.con.extract_statements(sql)
        if len(statements) != 1:
            raise QueryError(f"send exactly one statement (got {len(statements)})")
        kind = statements[0].type
        if kind not in ALLOWED:
            raise QueryError(f"only read-only SELECT queries are allowed; this is "
                             f"{kind.name}")
        names = named(sql)
        if names is None:  # cannot be told: every table, as a query may name any
            names = set(self.lake_tables)
        try:
            self.views.prepare(names)
        except CatalogError as exc:
            raise QueryError(str(exc)) from None
        if self._stopped or (stopped is not None and stopped()):
            raise QueryError("query stopped on request")
        try:
            return self.con.execute(sql, params or [])
        except duckdb.CatalogException:
            known = len(self.lake_tables)
            self.views.discover(force=True)
            if len(self.lake_tables) == known:
                raise
            try:
                self.views.prepare(names)
            except CatalogError as exc:
                raise QueryError(str(exc)) from None
            return self.con.execute(sql, params or [])

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """The timeout, and DuckDB's errors said for the person who wrote the query."""
        self._stopped = False
        timer = threading.Timer(self.settings.query_timeout_s, self.con.interrupt)
        timer.start()
        try:
            yield
        except duckdb.InterruptException:
            if self._stopped:
                raise QueryError("query stopped on request") from None
            raise QueryError(f"query interrupted after the {self.settings.query_timeout_s:g} s "
                             "timeout") from None
        except duckdb.OutOfMemoryException:
            raise QueryError(f"the query needs more than its memory limit of "
                             f"{self.settings.query_memory_mb} MB (TRIBUTARY_QUERY_MEMORY_MB): "
                             "filter, aggregate or select fewer columns") from None
        except duckdb.Error as exc:
            table = self.views.owner(str(exc))
            if table is not None:  # its files are gone or unreadable: say which table
                self.views.forget(table)
                raise QueryError(f"lake table {table} cannot be read: {exc}") from None
            raise QueryError(str(exc)) from None
        finally:
            timer.cancel()
