"""DuckDB over every lake table and the PostgreSQL tables, read-only, with guard rails.

- Each top-level prefix of the lake bucket is a table of that name, read with Hive partitions
  as columns, so filters on them skip files. A Delta table is read as the files of its latest
  commit (refreshed every couple of seconds); a plain prefix (a model) as all its Parquet.
- PostgreSQL is attached READ_ONLY as ``pg``, as a role that may only SELECT the data tables.
- Credentials live in DuckDB's secret manager (the S3 one scoped to the lake bucket), so no
  setting, catalog function or error message shows them.
- A query gets a memory limit and no spilling to disk; over it, a clear refusal.
- Only one SELECT per request runs. After setup, DuckDB's external access is switched off
  except for the lake's own prefix, and the configuration is locked, so no query can read
  local files, attach databases or turn the switch back.
- Results are capped, and a query is interrupted after the timeout.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import duckdb
from deltalake import DeltaTable

from tributary.load.lake import Lake
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


def _extension(name: str) -> str:
    module = __import__(f"duckdb_extension_{name}")
    found = glob.glob(os.path.join(os.path.dirname(str(module.__file__)),
                                   "extensions", "*", f"{name}.duckdb_extension"))
    if not found:
        raise QueryError(f"the {name} DuckDB extension is not installed")
    return found[0]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Engine:
    def __init__(self, settings: Settings, s3: Any, endpoint_url: str | None) -> None:
        self.settings = settings
        # In memory only, and no spilling: a query that needs more is refused, naming the limit.
        self.con = duckdb.connect(":memory:", config={
            "memory_limit": f"{settings.query_memory_mb}MB", "temp_directory": ""})
        for name in ("httpfs", "postgres_scanner"):
            self.con.execute(f"LOAD {_quote(_extension(name))}")
        self._s3_secret(endpoint_url)
        self._pg_secret()
        # The path stays empty so that no catalog function can show a password.
        self.con.execute("ATTACH '' AS pg (TYPE postgres, SECRET pg_reader, READ_ONLY)")
        self.s3 = s3
        self.lake = Lake(settings.lake_bucket, settings.region, endpoint_url)
        self.delta: dict[str, DeltaTable] = {}
        self.versions: dict[str, int] = {}
        self.lake_tables: list[str] = []
        self._listed_at = 0.0
        self.refresh(force=True)
        bucket = settings.lake_bucket
        self.con.execute(f"SET allowed_directories = [{_quote(f's3://{bucket}/')}]")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def _secret(self, name: str, options: dict[str, Any]) -> None:
        """A DuckDB secret: listed by ``duckdb_secrets()`` with its secret parts redacted,
        never in ``duckdb_settings()``."""
        body = ", ".join(f"{k} {v if isinstance(v, bool | int) else _quote(str(v))}"
                         for k, v in options.items())
        self.con.execute(f"CREATE SECRET {name} ({body})")

    def _s3_secret(self, endpoint_url: str | None) -> None:
        """Credentials for the lake bucket only (the secret's scope)."""
        opts: dict[str, Any] = {"TYPE": "s3", "REGION": self.settings.region,
                                "SCOPE": f"s3://{self.settings.lake_bucket}/"}
        env = {"KEY_ID": "AWS_ACCESS_KEY_ID", "SECRET": "AWS_SECRET_ACCESS_KEY",
               "SESSION_TOKEN": "AWS_SESSION_TOKEN"}
        opts |= {k: os.environ[v] for k, v in env.items() if os.environ.get(v)}
        if endpoint_url:  # the local emulator
            opts |= {"ENDPOINT": urlsplit(endpoint_url).netloc, "USE_SSL": False,
                     "URL_STYLE": "path"}
            opts.setdefault("KEY_ID", "test")
            opts.setdefault("SECRET", "test")
        self._secret("lake", opts)
        # httpfs fills these settings from AWS_* in the environment, where current_setting()
        # and duckdb_settings() would show them: the secret above is the only copy.
        for setting in ("s3_access_key_id", "s3_secret_access_key", "s3_session_token"):
            self.con.execute(f"SET {setting} = ''")

    def _pg_secret(self) -> None:
        dsn = urlsplit(self.settings.reader_dsn)
        self._secret("pg_reader", {"TYPE": "postgres", "HOST": dsn.hostname or "127.0.0.1",
                                   "PORT": dsn.port or 5432, "DATABASE": dsn.path.lstrip("/"),
                                   "USER": dsn.username or "", "PASSWORD": dsn.password or ""})

    def refresh(self, force: bool = False, every_s: float = 2.0) -> None:
        """Register lake tables that appeared since (new prefixes, materialized models), and
        point each Delta table's view at the files of its latest commit."""
        if not force and time.monotonic() - self._listed_at < every_s:
            return
        self._listed_at = time.monotonic()
        bucket = self.settings.lake_bucket
        listing = self.s3.list_objects_v2(Bucket=bucket, Delimiter="/")
        names = sorted(p["Prefix"].rstrip("/") for p in listing.get("CommonPrefixes", []))
        for name in names:
            if not name.replace("_", "").isalnum():
                continue  # not a table name we can expose safely
            if name in self.lake_tables and name not in self.delta:
                continue  # plain Parquet: its glob sees new files by itself
            table = self._delta(name)
            if table is None:
                source = _quote(f"s3://{bucket}/{name}/**/*.parquet")
            else:
                # A query reads the files of one commit: compaction swaps them in one step.
                if self.versions.get(name) == table.version():
                    continue
                files = table.file_uris()
                if not files:
                    continue
                self.versions[name] = table.version()
                source = "[" + ", ".join(_quote(f) for f in files) + "]"
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({source}, '
                "hive_partitioning = true, union_by_name = true)")
            if name not in self.lake_tables:
                self.lake_tables.append(name)

    def _delta(self, name: str) -> DeltaTable | None:
        """The table's Delta log, brought up to date; None for a plain Parquet prefix."""
        if name in self.delta:
            self.delta[name].update_incremental()
            return self.delta[name]
        found = self.lake.open(name)
        if found is not None:
            self.delta[name] = found
        return found

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
