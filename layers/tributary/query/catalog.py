"""What a DuckDB connection needs to see Tributary's data: the lake's tables as views and
PostgreSQL attached read-only as ``pg``. The query engine and the dbt project share it.

- Each top-level prefix of the lake bucket is a table of that name, read with Hive partitions
  as columns, so filters on them skip files. A Delta table is read as the files of its latest
  commit; a plain prefix (a model) as all its Parquet.
- Credentials live in DuckDB's secret manager (the S3 one scoped to the lake bucket), so no
  setting, catalog function or error message shows them.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any
from urllib.parse import urlsplit

import duckdb
from deltalake import DeltaTable

from tributary.load.lake import Lake
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


class LakeViews:
    """One view per lake table in ``schema``, kept pointing at each Delta table's latest
    commit."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings,
                 endpoint_url: str | None, schema: str = "main", s3: Any = None) -> None:
        self.con, self.schema = con, schema
        self.bucket = settings.lake_bucket
        self.lake = Lake(settings.lake_bucket, settings.region, endpoint_url)
        self.s3 = s3 or self.lake.s3_client()
        self.delta: dict[str, DeltaTable] = {}
        self.versions: dict[str, int] = {}
        self.names: list[str] = []
        self._listed_at = 0.0
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def refresh(self, force: bool = False, every_s: float = 2.0) -> None:
        """Register lake tables that appeared since (new prefixes, materialized models), and
        point each Delta table's view at the files of its latest commit."""
        if not force and time.monotonic() - self._listed_at < every_s:
            return
        self._listed_at = time.monotonic()
        for name in prefixes(self.s3, self.bucket):
            if name in self.names and name not in self.delta:
                continue  # plain Parquet: its glob sees new files by itself
            source = self._source(name)
            if source is None:
                continue
            self.con.execute(
                f'CREATE OR REPLACE VIEW "{self.schema}"."{name}" AS SELECT * FROM '
                f"read_parquet({source}, hive_partitioning = true, union_by_name = true)")
            if name not in self.names:
                self.names.append(name)

    def _source(self, name: str) -> str | None:
        """What the view reads; None when it needs no change (or has no files yet)."""
        table = self._delta(name)
        if table is None:
            return quote(f"s3://{self.bucket}/{name}/**/*.parquet")
        # A query reads the files of one commit: compaction swaps them in one step.
        if self.versions.get(name) == table.version():
            return None
        files = table.file_uris()
        if not files:
            return None
        self.versions[name] = table.version()
        return "[" + ", ".join(quote(f) for f in files) + "]"

    def _delta(self, name: str) -> DeltaTable | None:
        """The table's Delta log, brought up to date; None for a plain Parquet prefix."""
        if name in self.delta:
            self.delta[name].update_incremental()
            return self.delta[name]
        found = self.lake.open(name)
        if found is not None:
            self.delta[name] = found
        return found


def prefixes(s3: Any, bucket: str) -> list[str]:
    """The lake's table names: its top-level prefixes that are safe as SQL names."""
    listing = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    names = sorted(p["Prefix"].rstrip("/") for p in listing.get("CommonPrefixes", []))
    return [n for n in names if n.replace("_", "").isalnum()]
