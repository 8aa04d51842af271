"""What a DuckDB connection needs to see Tributary's data: the lake's tables as views and
PostgreSQL attached read-only as ``pg``. The query engine and the dbt project share it.

- Each top-level prefix of the lake bucket that holds a Delta log or Parquet files is a table
  of that name, read with Hive partitions as columns, so filters on them skip files. A Delta
  table is read as the files of its latest commit; a plain prefix (a model) as all its
  Parquet. Any other prefix (an Athena output location, stray files) is skipped and said so.
- A query pays only for the tables it names: each view is brought up to date when a query
  names it, and only if its table has a newer commit. ``select 1`` reads nothing from S3, and
  a table that cannot be read fails only the queries that name it.
- Credentials live in DuckDB's secret manager (the S3 one scoped to the lake bucket), so no
  setting, catalog function or error message shows them.
"""

from __future__ import annotations

import glob
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import sqlglot
from deltalake import DeltaTable
from sqlglot import exp

from tributary.load.lake import Lake, prefixes
from tributary.settings import Settings


class CatalogError(ValueError):
    """The connection could not be set up; the message says what is missing."""


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _extension(name: str) -> str:
    """The extension file shipped by its PyPI package: DuckDB cannot download one here."""
    module = __import__(f"duckdb_extension_{name}")
    found = glob.glob(os.path.join(os.path.dirname(str(module.__file__)),
                                   "extensions", "*", f"{name}.duckdb_extension"))
    if not found:
        raise CatalogError(f"the {name} DuckDB extension is not installed")
    return found[0]


def _secret(con: duckdb.DuckDBPyConnection, name: str, options: dict[str, Any]) -> None:
    """A DuckDB secret: listed by ``duckdb_secrets()`` with its secret parts redacted, never
    in ``duckdb_settings()``."""
    body = ", ".join(f"{k} {v if isinstance(v, bool | int) else quote(str(v))}"
                     for k, v in options.items())
    con.execute(f"CREATE SECRET {name} ({body})")


def _s3_secret(con: duckdb.DuckDBPyConnection, settings: Settings,
               endpoint_url: str | None) -> None:
    """Credentials for the lake bucket only (the secret's scope)."""
    opts: dict[str, Any] = {"TYPE": "s3", "REGION": settings.region,
                            "SCOPE": f"s3://{settings.lake_bucket}/"}
    env = {"KEY_ID": "AWS_ACCESS_KEY_ID", "SECRET": "AWS_SECRET_ACCESS_KEY",
           "SESSION_TOKEN": "AWS_SESSION_TOKEN"}
    opts |= {k: os.environ[v] for k, v in env.items() if os.environ.get(v)}
    if endpoint_url:  # the local emulator
        opts |= {"ENDPOINT": urlsplit(endpoint_url).netloc, "USE_SSL": False,
                 "URL_STYLE": "path"}
        opts.setdefault("KEY_ID", "test")
        opts.setdefault("SECRET", "test")
    _secret(con, "lake", opts)
    # httpfs fills these settings from AWS_* in the environment, where current_setting() and
    # duckdb_settings() would show them: the secret above is the only copy.
    for setting in ("s3_access_key_id", "s3_secret_access_key", "s3_session_token"):
        con.execute(f"SET {setting} = ''")


def _pg_secret(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    dsn = urlsplit(settings.reader_dsn)
    _secret(con, "pg_reader", {"TYPE": "postgres", "HOST": dsn.hostname or "127.0.0.1",
                               "PORT": dsn.port or 5432, "DATABASE": dsn.path.lstrip("/"),
                               "USER": dsn.username or "", "PASSWORD": dsn.password or ""})


def attach(con: duckdb.DuckDBPyConnection, settings: Settings,
           endpoint_url: str | None) -> None:
    """Load the extensions, create the secrets and attach PostgreSQL as ``pg``."""
    for name in ("httpfs", "postgres_scanner"):
        con.execute(f"LOAD {quote(_extension(name))}")
    _s3_secret(con, settings, endpoint_url)
    _pg_secret(con, settings)
    # The path stays empty so that no catalog function can show a password.
    try:
        con.execute("ATTACH '' AS pg (TYPE postgres, SECRET pg_reader, READ_ONLY)")
    except duckdb.IOException as exc:
        raise CatalogError(f"cannot reach PostgreSQL: {str(exc).splitlines()[0]}") from None


@dataclass
class View:
    """One lake table as a view: ``delta`` is None for a plain Parquet prefix."""

    delta: DeltaTable | None
    version: int | None = None
    checked_at: float = -math.inf
    columns: list[tuple[str, str]] | None = None  # DESCRIBE's answer for ``version``


class LakeViews:
    """One view per lake table in ``schema``, each pointing at its Delta table's latest commit
    as of the last query that named it.

    ``check_s``: a view is compared with its table's log at most this often (a LIST and a HEAD
    on S3); ``list_s``: the bucket is listed for new tables at most this often."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings,
                 endpoint_url: str | None, schema: str = "main", s3: Any = None,
                 check_s: float = 1.0, list_s: float = 2.0) -> None:
        self.con, self.schema = con, schema
        self.bucket = settings.lake_bucket
        self.lake = Lake.of(settings, endpoint_url)
        self.s3 = s3 or self.lake.s3_client()
        self.check_s, self.list_s = check_s, list_s
        self.views: dict[str, View] = {}
        self.skipped: dict[str, str] = {}  # prefix -> why it is no table
        self._listed_at = -math.inf
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    @property
    def names(self) -> list[str]:
        return sorted(self.views)

    def refresh(self, force: bool = False) -> None:
        """Find the tables that appeared (and forget those gone) since the last listing; with
        ``force``, also every view brought up to date (dbt, ``GET /tables``)."""
        self.discover(force)
        for name in self.names if force else []:
            try:
                self.prepare([name], fresh=True)
            except CatalogError as exc:  # left out: only the queries that name it fail
                self.skipped[name] = str(exc)

    def discover(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._listed_at < self.list_s:
            return
        self._listed_at = time.monotonic()
        found = set(prefixes(self.s3, self.bucket, safe=False))
        for name in sorted(set(self.views) - found):
            del self.views[name]
            self.con.execute(f'DROP VIEW IF EXISTS "{self.schema}"."{name}"')
        self.skipped = {n: why for n, why in self.skipped.items() if n in found and not force}
        for name in sorted(found - set(self.views) - set(self.skipped)):
            why = self._register(name)
            if why:
                self.skipped[name] = why

    def prepare(self, names: Iterable[str], fresh: bool = False) -> None:
        """Bring the views of ``names`` (those that are lake tables) up to date; a name not
        known yet makes the bucket listed again (at most every ``list_s``). ``fresh``: each
        compared with its table's log now, however recently it was.

        Raises ``CatalogError`` naming a table that cannot be read."""
        wanted = set(names)
        if wanted - set(self.views) - set(self.skipped):
            self.discover()
        for name in sorted(wanted & set(self.views)):
            view = self.views[name]
            if view.delta is None or (
                    not fresh and time.monotonic() - view.checked_at < self.check_s):
                continue
            try:
                self._update(name, view)
            except Exception as exc:  # noqa: BLE001 - any failure is this table's alone
                raise CatalogError(f"lake table {name} cannot be read: "
                                   f"{str(exc).splitlines()[0]}") from None
            view.checked_at = time.monotonic()

    def columns(self, name: str) -> list[tuple[str, str]]:
        """The view's columns and types, described once per version of its table."""
        view = self.views[name]
        if view.columns is None:
            rows = self.con.execute(f'DESCRIBE "{self.schema}"."{name}"').fetchall()
            view.columns = [(str(r[0]), str(r[1])) for r in rows]
        return view.columns

    def forget(self, name: str) -> None:
        """Compare the view with its table's log at the next query (its files failed)."""
        if name in self.views:
            self.views[name].version, self.views[name].checked_at = None, -math.inf

    def owner(self, message: str) -> str | None:
        """The lake table whose files an error message names."""
        for name in self.views:
            if f"s3://{self.bucket}/{name}/" in message:
                return name
        return None

    def _register(self, name: str) -> str | None:
        """Make ``name`` a table; the reason it is none otherwise."""
        if not name.replace("_", "").isalnum():
            return "not a SQL name"
        if self._holds(f"{name}/_delta_log/"):
            table = self.lake.open(name)
            if table is not None:
                self.views[name] = View(table)
                return None
        if not self._holds(f"{name}/", ".parquet"):
            return "no Delta log and no Parquet files"
        # A model's plain Parquet: its glob sees new files by itself.
        self._create(name, quote(f"s3://{self.bucket}/{name}/**/*.parquet"))
        self.views[name] = View(None)
        return None

    def _holds(self, prefix: str, suffix: str = "") -> bool:
        """Whether a key under ``prefix`` ends with ``suffix`` (among its first 1,000 keys:
        a prefix with that many other files first is no table of ours)."""
        keys = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix,
                                       MaxKeys=1 if not suffix else 1000).get("Contents", [])
        return any(k["Key"].endswith(suffix) for k in keys)

    def _update(self, name: str, view: View) -> None:
        """Point the view at the files of the table's latest commit, if it has a newer one."""
        table = self.lake.open(name)
        if table is None:
            raise CatalogError("its Delta log is gone")
        view.delta = table
        if view.version == table.version():
            return
        files = table.file_uris()
        if files:
            self._create(name, "[" + ", ".join(quote(f) for f in files) + "]")
        else:  # an empty table (a snapshot of nothing) still has its columns
            empty = self.con.from_arrow(pa.schema(table.schema().to_arrow()).empty_table())
            cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"'
                             for c, t in zip(empty.columns, empty.types, strict=True))
            self.con.execute(f'CREATE OR REPLACE VIEW "{self.schema}"."{name}" AS '
                             f"SELECT {cols} WHERE false")
        view.version, view.columns = table.version(), None

    def _create(self, name: str, source: str) -> None:
        self.con.execute(
            f'CREATE OR REPLACE VIEW "{self.schema}"."{name}" AS SELECT * FROM '
            f"read_parquet({source}, hive_partitioning = true, union_by_name = true)")


def named(sql: str) -> set[str] | None:
    """The names of the tables a statement reads, except PostgreSQL's (``pg.``): those that
    may be lake tables. None when it cannot be told.

    DuckDB's own parser first; it refuses a statement with parameters, which sqlglot reads."""
    try:
        found = duckdb.get_table_names(sql, qualified=True)
        return {parts[-1] for parts in (_parts(f) for f in found) if parts[0] != "pg"}
    except duckdb.Error:
        pass
    try:
        tables = sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)
        return {t.name for t in tables if t.catalog != "pg"}
    except sqlglot.errors.SqlglotError:
        return None


def _parts(qualified: str) -> list[str]:
    """``pg.public."x y" AS t`` as ``["pg", "public", "x y"]``."""
    name = re.sub(r"\s+AS\s+.*$", "", qualified)
    return [p.strip('"').replace('""', '"') for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', name)]
