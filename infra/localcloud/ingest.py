"""Drive and watch an ingestion: trigger fetches, show progress, verify the result.

Everything here is read from where the pipeline keeps it: partitions and upstream totals in
DynamoDB, loaded pages in PostgreSQL's ``load_log``, queue depth in SQS, files in the lake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from localcloud.config import emulator_client, emulator_resource
from tributary import pause
from tributary.control import progress as control
from tributary.control.progress import Aws, Progress
from tributary.control.rejects import Reason, RejectRate, StreamRejects, by_stream
from tributary.control.sources import start_fetch
from tributary.extract.checkpoints import ERROR_FIELDS, Checkpoints, StreamState
from tributary.load.lake import Lake
from tributary.load.tables import all_tables
from tributary.settings import Settings


def aws(settings: Settings) -> Aws:
    return Aws(emulator_resource("dynamodb", settings), emulator_client("events", settings),
               emulator_client("sqs", settings))


def progress(settings: Settings, sources: set[str] | None = None, reasons: bool = False
             ) -> Progress:
    return control.progress(settings, aws(settings), sources, reasons)


def paused_sources(settings: Settings) -> set[str]:
    return pause.paused_sources(emulator_client("events", settings))


def _checkpoints(settings: Settings) -> Checkpoints:
    return Checkpoints(settings.checkpoints_table, settings.fetch_lease_s,
                       emulator_resource("dynamodb", settings))


def trigger_fetch(settings: Settings, source: str | None = None, force: bool = True) -> None:
    """Start a fetch now (asynchronously, as the schedule would); ``force``: due or not."""
    start_fetch(emulator_client("lambda", settings), source, force)


def trigger_fetches(settings: Settings, sources: set[str] | None = None,
                    force: bool = True) -> None:
    """One fetch per source (``None``: every pulled source), so they run side by side: one
    invocation works through its sources one after another (hallow and snapshots waited
    1m44s behind DataSync's 3M events that way)."""
    for name in sorted(sources if sources else {src for src, _, _ in all_tables()}):
        trigger_fetch(settings, name, force)


def lake(settings: Settings) -> Lake:
    return Lake.of(settings, settings.emulator_url)


def lake_ids(settings: Settings, table: str, key: str = "id") -> tuple[int, int]:
    """(rows, distinct keys) of a lake table, as of its latest commit."""
    files = lake(settings).read(table, [key])
    if not files:
        return 0, 0
    data = pa.concat_tables([t for _, t in files])
    return data.num_rows, pc.count_distinct(data[key]).as_py()


def lake_versions(settings: Settings, table: str, key: str) -> tuple[int, int]:
    """(distinct keys, rows that repeat a version) of a lake table. The lake keeps every
    version of a row (each change is appended), so a key may appear more than once; the same
    version twice (the same key ingested at the same instant) is a duplicate."""
    files = lake(settings).read(table, [key, "_ingested_at"])
    if not files:
        return 0, 0
    data = pa.concat_tables([t for _, t in files]).rename_columns(["k", "ts"])
    # DuckDB: 0.3 s for 3M rows, where Arrow's group_by and count_distinct took 2.6 s.
    keys, versions = duckdb.sql("SELECT count(DISTINCT k), count(*) FROM "
                                "(SELECT k, ts FROM data GROUP BY ALL)").fetchone() or (0, 0)
    return int(keys), data.num_rows - int(versions)


@dataclass
class Verdict:
    stream: str
    upstream_total: int
    postgres_rows: int
    lake_rows: int
    lake_duplicates: int
    rejected_ids: int
    missing: int
    records_read: int = 0
    rejected_records: int = 0
    reject_threshold: float = 0.01
    reasons: list[Reason] = field(default_factory=list)
    upstream_known: bool = True  # False: the API never says its count (nothing is "missing")
    error: str | None = None  # fetching it failed, and nothing retries it before its next pass

    @property
    def rejects(self) -> RejectRate:
        return RejectRate(self.rejected_records, self.records_read, self.reject_threshold)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.lake_duplicates == 0 and self.error is None and \
            self.lake_rows == self.postgres_rows and not self.rejects.too_high

    def as_dict(self) -> dict[str, Any]:
        """The summary table's figures for this stream, as ``status --json`` gives them."""
        return {"upstream": self.upstream_total if self.upstream_known else None,
                "postgres": self.postgres_rows, "lake": self.lake_rows,
                "duplicates": self.lake_duplicates, "rejects": self.rejected_ids,
                "missing": self.missing, "error": self.error, "ok": self.ok}


def _records_read(conn: psycopg.Connection[Any]) -> dict[str, int]:
    if conn.execute("SELECT to_regclass('load_log')").fetchone() == (None,):
        return {}
    return {name: int(n or 0) for name, n in conn.execute(
        "SELECT source || '/' || stream, sum(records) FROM load_log GROUP BY 1")}


def verify(settings: Settings, sources: set[str] | None = None) -> list[Verdict]:
    states = _checkpoints(settings).streams(only=("status", "finished_at", *ERROR_FIELDS,
                                                  "error_at"))
    out = []
    paused = paused_sources(settings)
    deliveries = control.queue_depth(emulator_client("sqs", settings), "tributary-transform")[2]
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        found = by_stream(conn)
        read = _records_read(conn)
        loads = {name: failure for name, (failure, _) in
                 control.load_failures(conn, deliveries).items()}
        for source, stream, table in all_tables():
            if (sources and source not in sources) or source in paused:
                continue
            state = states.get((source, stream), StreamState())
            told = state.total
            total = told or 0
            exists = conn.execute("SELECT to_regclass(%s)", (table.name,)).fetchone() != (None,)
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(table.name))).fetchone()[0] if exists else 0  # type: ignore[index]
            if table.snapshot and exists:
                # The current copy is the newest version loaded: read both in one statement,
                # so a version landing meanwhile cannot split them.
                latest, rows = conn.execute(sql.SQL(
                    "SELECT (SELECT records FROM load_log WHERE source = %s AND "
                    "stream = %s ORDER BY fetched_at DESC NULLS LAST LIMIT 1), "
                    "(SELECT count(*) FROM {})").format(sql.Identifier(table.name)),
                    (source, stream)).fetchone() or (None, rows)
                total, told = (total, told) if latest is None else (latest, latest)
            rejected = conn.execute(sql.SQL(
                "SELECT count(DISTINCT r.record_id) FROM rejects r WHERE r.source = %s AND "
                "r.stream = %s AND NOT EXISTS (SELECT 1 FROM {} t WHERE t.{} = r.record_id)"
            ).format(sql.Identifier(table.name), sql.Identifier(table.key)),
                (source, stream)).fetchone()[0] if exists else 0  # type: ignore[index]
            lake_rows, lake_duplicates = lake_versions(settings, table.name, table.key)
            name = f"{source}/{stream}"
            seen = found.get(name, StreamRejects(name))
            # An API that never says its count: nothing can be called missing. More rows than
            # it says is not a loss either (it deleted some since it counted).
            # A declared filter leaves records out on purpose: counts cannot tell a loss.
            missing = max(0, total - rows - rejected) \
                if told is not None and not table.filter else 0
            failure = state.failure or loads.get(name)
            out.append(Verdict(name, total, rows, lake_rows, lake_duplicates,
                               rejected, missing, read.get(name, 0), seen.rejected,
                               settings.reject_threshold, seen.reasons, told is not None,
                               failure.error if failure and failure.final else None))
    return out


def wait(settings: Settings, on_tick: Any, timeout_s: float, stalled_after_s: float = 20.0,
         sources: set[str] | None = None, since: float | None = None) -> Progress:
    """Poll until settled: every stream fetched and loaded, or given up on (its error is in
    its checkpoint). While partitions remain but fetching has made no progress for a while (a
    fetcher crashed, ran out of time budget, or a failed partition's retry is due), start
    another fetch: not forced, so nothing finished is fetched again. ``since`` (epoch s): when
    the fetches this wait is for were started; each stream then waits for a pass of theirs to
    end (or fail), not for a state settled before (a forced fetch reopens finished and failed
    partitions alike)."""
    started = last_change = time.monotonic()
    last_fetched = -1
    while True:
        prog = progress(settings, sources)
        on_tick(prog)
        stale = {name.split("/")[0] for name, s in prog.streams.items() if since is not None
                 and not s.paused and max(s.fetched_at or 0.0, s.failure.at if s.failure
                                          else 0.0) < since}
        if prog.settled and not stale:
            return prog
        now = time.monotonic()
        if now - started > timeout_s:
            raise TimeoutError(f"ingestion not settled after {timeout_s:.0f}s")
        fetched = sum(s.fetched for s in prog.streams.values())
        if fetched != last_fetched:
            last_fetched, last_change = fetched, now
        fetching = any(s.partitions != s.partitions_done and not s.paused
                       for s in prog.streams.values())
        if (fetching or stale) and now - last_change > stalled_after_s:
            trigger_fetches(settings, sources, force=False)  # lapsed leases are taken over
            if stale:  # the fetch started for them ended without a pass (it failed whole)
                trigger_fetches(settings, stale)
            last_change = now
        time.sleep(1.0)  # each poll costs the emulator; the fetchers checkpoint every page
