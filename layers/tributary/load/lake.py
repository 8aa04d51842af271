"""The lake: each top-level prefix of the lake bucket is a Delta Lake table (delta-rs).

Why a table format rather than loose Parquet files:
- A reader takes the table's files from one commit of its log. Compaction replaces many
  small files with a few large ones in one commit, so a query sees the old files or the new
  ones, never both.
- Each append carries a Delta ``SetTransaction`` whose app id names what produced it (a raw
  page, a webhook batch). Appending the same thing again after a crash is skipped, so the
  lake never holds a row twice.
Commits are safe with concurrent writers on S3 through conditional puts (If-None-Match).

Curated tables partition by ``dt`` (the UTC day of the row's time column). A snapshot table's
current copy is replaced whole in one commit beside its history table.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from tributary.load import postgres
from tributary.load.tables import Table
from tributary.settings import Settings, get_settings

DAY = "dt"
_WRITER = WriterProperties(compression="ZSTD")
_opened: dict[tuple[str | None, str], tuple[DeltaTable, str | None]] = {}
_clients: dict[str | None, Any] = {}
_READERS = 6  # lake files fetched at once by read()


@dataclass(frozen=True)
class Lake:
    bucket: str
    region: str
    endpoint_url: str | None = None  # the emulator; None on AWS (the role's credentials)
    retention_s: int = 3600  # see Settings.lake_retention_s

    @classmethod
    def from_env(cls) -> Lake:
        """As a function sees it: ``AWS_ENDPOINT_URL`` is set on LocalStack and locally."""
        return cls.of(get_settings(), os.environ.get("AWS_ENDPOINT_URL"))

    @classmethod
    def of(cls, s: Settings, endpoint_url: str | None) -> Lake:
        return cls(s.lake_bucket, s.region, endpoint_url, s.lake_retention_s)

    @property
    def config(self) -> dict[str, str | None]:
        """Each table's properties. A checkpoint every 10 commits (default 100): reading the
        log is what a commit costs on the emulator; 3M events took 120 s this way, 130 s with
        checkpoints only every 100 commits. After the retention, a commit's checkpoint drops
        the log entries before it and vacuum the files they removed."""
        retention = f"interval {self.retention_s} seconds"
        return {"delta.checkpointInterval": "10", "delta.logRetentionDuration": retention,
                "delta.deletedFileRetentionDuration": retention}

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}"

    @property
    def options(self) -> dict[str, str]:
        opts = {"AWS_REGION": self.region, "AWS_CONDITIONAL_PUT": "etag"}
        if self.endpoint_url:
            opts |= {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ALLOW_HTTP": "true",
                     "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                     "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}
        return opts

    def open(self, name: str, latest: bool = True) -> DeltaTable | None:
        """The table at its latest commit (``latest=False``: as last seen, for a blind append
        that the commit protocol rebases anyway). A warm process keeps each table it has
        opened and reads only the commits since (a fresh load replays the log)."""
        key = (self.endpoint_url, self.uri(name))
        cached, born = _opened.get(key, (None, None))
        if cached is not None and self._first_commit(name) != born:
            del _opened[key]  # deleted, or deleted and created again: not the table we read
            cached = None
        if cached is not None:
            if latest:
                cached.update_incremental()
            return cached
        born = self._first_commit(name)
        try:
            table = DeltaTable(self.uri(name), storage_options=self.options)
        except TableNotFoundError:
            return None
        _opened[key] = (table, born)
        return table

    def append(self, name: str, data: pa.Table, partition_by: list[str], app_id: str,
               first_time: bool = False) -> bool:
        """Append once per ``app_id``; False when nothing was written (empty, or done before).

        ``first_time``: the caller knows this ``app_id`` was never attempted, so the log need
        not be read first (on the emulator each log read is several slow requests)."""
        return bool(self.append_many(name, {app_id: data}, partition_by, first_time))

    def append_many(self, name: str, parts: dict[str, pa.Table], partition_by: list[str],
                    first_time: bool = False) -> list[str]:
        """Append each part once per its app id, all in one commit (a commit costs the same
        for one page as for ten). Returns the app ids written: not the empty ones, nor those
        a commit already holds."""
        if not any(d.num_rows for d in parts.values()):
            return []  # a page that changed nothing costs no request at all
        for attempt in range(5):
            checked = not first_time or attempt > 0  # a failed try may have committed after all
            table = self.open(name, latest=checked)
            todo = {a: d for a, d in parts.items() if d.num_rows and not (
                checked and table is not None and table.transaction_version(a) is not None)}
            if not todo:
                return []
            try:
                write_deltalake(table if table is not None else self.uri(name),
                                pa.concat_tables(todo.values()), mode="append",
                                partition_by=partition_by,
                                storage_options=None if table is not None else self.options,
                                configuration=None if table is not None else self.config,
                                writer_properties=_WRITER,
                                commit_properties=CommitProperties(app_transactions=[
                                    Transaction(app_id=a, version=1) for a in todo]))
                return list(todo)
            except CommitFailedError:
                if attempt == 4:  # two writers creating the table at once: the loser retries
                    raise
        return []

    def s3_client(self) -> Any:
        if self.endpoint_url not in _clients:
            creds = ({"aws_access_key_id": self.options["AWS_ACCESS_KEY_ID"],
                      "aws_secret_access_key": self.options["AWS_SECRET_ACCESS_KEY"]}
                     if self.endpoint_url else {})
            _clients[self.endpoint_url] = boto3.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region, **creds)
        return _clients[self.endpoint_url]

    def _first_commit(self, name: str) -> str | None:
        """The ETag of the table's first commit (None: no table): a cached table whose first
        commit changed is a ghost of another table."""
        try:
            etag: str = self.s3_client().head_object(
                Bucket=self.bucket, Key=f"{name}/_delta_log/{0:020d}.json")["ETag"]
            return etag
        except ClientError:
            return None

    def rows(self, table: DeltaTable, partitions: dict[str, str] | None = None) -> int:
        """Rows in the table (or its partitions) from the log's file statistics alone."""
        actions = pa.table(table.get_add_actions(flatten=True))
        for column, value in (partitions or {}).items():
            actions = actions.filter(pc.equal(actions[f"partition.{column}"], value))
        return int(pc.sum(actions["num_records"]).as_py() or 0)

    def read(self, name: str, columns: list[str] | None = None
             ) -> list[tuple[str, pa.Table]] | None:
        """Each file of the latest commit, with its URI (None: no such table).

        Files are fetched with boto3: scanning through pyarrow's dataset layer here made the
        process abort at exit ("terminate called without an active exception")."""
        table = self.open(name)
        if table is None:
            return None
        s3 = self.s3_client()

        def fetch(uri: str) -> tuple[str, pa.Table]:
            key = uri.removeprefix(f"s3://{self.bucket}/")
            body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return uri, pq.read_table(io.BytesIO(body), columns=columns)

        # Several at once: each GET waits on the network, and Parquet decodes without the GIL.
        with ThreadPoolExecutor(_READERS) as pool:
            return list(pool.map(fetch, table.file_uris()))

    def replace(self, name: str, data: pa.Table) -> None:
        """The whole table becomes ``data``, in one commit.

        Through the table this process keeps open: by URI, delta-rs read the whole log again
        for every version of a snapshot (up to 100 GETs each, 45 a second in steady state)."""
        table = self.open(name)
        write_deltalake(table if table is not None else self.uri(name), data, mode="overwrite",
                        schema_mode="overwrite",
                        storage_options=None if table is not None else self.options,
                        configuration=None if table is not None else self.config,
                        writer_properties=_WRITER)


def prefixes(s3: Any, bucket: str, safe: bool = True) -> list[str]:
    """The lake bucket's top-level prefixes (``safe``: only those usable as SQL names)."""
    names: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        names += (p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
    return sorted(n for n in names if not safe or n.replace("_", "").isalnum())


def with_day(data: pa.Table, column: str) -> pa.Table:
    """``data`` with its ``dt`` partition: the UTC day of ``column``."""
    # Through date32, not strftime: 13x faster, and strftime was 11% of a transform's CPU.
    return data.append_column(DAY, pc.cast(pc.cast(data[column], pa.date32()), pa.string()))


def write_pages(lake: Lake, conn: psycopg.Connection[Any], table: Table,
                pages: dict[str, pa.Table | None], first_time: bool = False
                ) -> dict[str, list[str]]:
    """Put loaded pages of one stream in the lake, in one commit: the rows each changed (read
    back from PostgreSQL when None). Returns the tables each page went into; doing it again
    for the same pages adds nothing."""
    parts = {key: rows if rows is not None else postgres.rows_of_page(conn, table, key)
             for key, rows in pages.items()}
    lake.append_many(table.name, {k: with_day(r, table.partition_by) for k, r in parts.items()
                                  if r.num_rows}, [DAY], first_time)
    return {k: [table.name] if r.num_rows else [] for k, r in parts.items()}


def write_page(lake: Lake, conn: psycopg.Connection[Any], table: Table, raw_key: str,
               changed: pa.Table | None = None, first_time: bool = False) -> list[str]:
    """Put one loaded page in the lake: the rows it changed (read back from PostgreSQL unless
    given), or for a snapshot its history entries and the new current copy. Returns the
    tables it went into; doing it again for the same page adds nothing."""
    if not table.snapshot:
        return write_pages(lake, conn, table, {raw_key: changed}, first_time)[raw_key]
    history = postgres.history_of_page(conn, table, raw_key)
    if history.num_rows == 0:
        return []
    lake.append(table.history, with_day(history, "seen_at"), [DAY], raw_key, first_time)
    lake.replace(table.name, postgres.current_rows(conn, table))
    return [table.history, table.name]
