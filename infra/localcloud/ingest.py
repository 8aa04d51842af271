"""Drive and watch an ingestion: trigger fetches, show progress, verify the result.

Everything here is read from where the pipeline keeps it: partitions and upstream totals in
DynamoDB, loaded pages in PostgreSQL's ``load_log``, queue depth in SQS, files in the lake.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from localcloud import rejects
from localcloud.config import emulator_client, emulator_resource
from localcloud.rejects import Reason, StreamRejects
from tributary.extract.checkpoints import Checkpoints
from tributary.extract.fetch import schedule_rule
from tributary.load.lake import Lake
from tributary.load.tables import all_tables
from tributary.settings import Settings


@dataclass
class StreamProgress:
    stream: str  # "<source>/<stream>"
    upstream_total: int = 0
    partitions: int = 0
    partitions_done: int = 0
    fetched: int = 0
    pages_landed: int = 0
    pages_loaded: int = 0
    transformed: int = 0
    changed: int = 0
    rejected: int = 0
    lake_pending: int = 0
    paused: bool = False
    continuous: bool = False  # a snapshot: polled on and on, never finished
    reject_threshold: float = 0.01
    top_reasons: list[Reason] = field(default_factory=list)

    @property
    def reject_share(self) -> float:
        return self.rejected / self.transformed if self.transformed else 0.0

    @property
    def failed(self) -> bool:
        """Rejecting more than the threshold: loudly wrong, however exact the rest is."""
        return self.reject_share > self.reject_threshold

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"reject_share": round(self.reject_share, 6),
                               "failed": self.failed, "settled": self.settled}

    @property
    def settled(self) -> bool:
        """Fetched to the end and every landed page loaded and in the lake; for a snapshot,
        a first version loaded and in the lake (newer ones keep coming)."""
        if self.paused:
            return True
        done = self.pages_loaded - self.lake_pending
        if self.continuous:
            return done > 0
        return bool(self.partitions) and self.partitions == self.partitions_done and \
            done >= self.pages_landed and not self.lake_pending


@dataclass
class Progress:
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    queue_visible: int = 0
    queue_in_flight: int = 0
    dlq: int = 0

    @property
    def settled(self) -> bool:
        """Every stream settled (counted per stream: polled sources keep the queue busy)."""
        return bool(self.streams) and all(s.settled for s in self.streams.values())

    def as_dict(self) -> dict[str, Any]:
        return {"streams": {k: v.as_dict() for k, v in self.streams.items()},
                "queue": {"visible": self.queue_visible, "in_flight": self.queue_in_flight,
                          "dead_letter": self.dlq}, "settled": self.settled,
                "failed": sorted(k for k, v in self.streams.items() if v.failed)}


def _queue_depth(settings: Settings, name: str) -> tuple[int, int]:
    sqs = emulator_client("sqs", settings)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def _checkpoints(settings: Settings) -> Checkpoints:
    return Checkpoints(settings.checkpoints_table, settings.fetch_lease_s,
                       emulator_resource("dynamodb", settings))


def paused_sources(settings: Settings) -> set[str]:
    events = emulator_client("events", settings)
    rules = {r["Name"]: r["State"] for page in events.get_paginator("list_rules").paginate()
             for r in page["Rules"]}
    return {src for src, _, _ in all_tables() if rules.get(schedule_rule(src)) == "DISABLED"}


def progress(settings: Settings, sources: set[str] | None = None, reasons: bool = False
             ) -> Progress:
    """Figures per stream; with ``reasons``, each stream's top reject reasons too."""
    store = _checkpoints(settings)
    out = Progress()
    paused = paused_sources(settings)
    for source, stream, table in all_tables():
        if sources and source not in sources:
            continue
        sp = StreamProgress(f"{source}/{stream}", paused=source in paused,
                            upstream_total=int(store.meta(source, stream).get("total", 0)),
                            continuous=table.snapshot,
                            reject_threshold=settings.reject_threshold)
        for p in store.partitions(source, stream, only=("status", "records", "seq")):
            sp.partitions += 1
            sp.partitions_done += p.status == "done"
            sp.fetched += p.records
            sp.pages_landed += p.seq
        out.streams[sp.stream] = sp
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('load_log')").fetchone() != (None,):
            for name, pages, recs, changed, rejected, pending in conn.execute(
                    "SELECT source || '/' || stream, count(*), sum(records), sum(changed), "
                    "sum(rejected), count(*) FILTER (WHERE NOT lake_done) FROM load_log "
                    "GROUP BY 1"):
                if name in out.streams:
                    sp = out.streams[name]
                    sp.pages_loaded, sp.transformed, sp.changed = pages, recs, changed
                    sp.rejected, sp.lake_pending = rejected, pending
            if reasons:
                for name, found in rejects.by_stream(conn).items():
                    if name in out.streams:
                        out.streams[name].top_reasons = found.reasons
    out.queue_visible, out.queue_in_flight = _queue_depth(settings, "tributary-transform")
    out.dlq = sum(_queue_depth(settings, "tributary-transform-dlq"))
    return out


def trigger_fetch(settings: Settings, source: str | None = None) -> None:
    """Start a fetch now (asynchronously, as the schedule would), due or not."""
    payload = {"force": True} | ({"source": source} if source else {})
    emulator_client("lambda", settings).invoke(
        FunctionName="tributary-fetch", InvocationType="Event",
        Payload=orjson.dumps(payload))


def trigger_fetches(settings: Settings, sources: set[str] | None = None) -> None:
    """One fetch per source (``None``: every pulled source), so they run side by side: one
    invocation works through its sources one after another (hallow and snapshots waited
    1m44s behind DataSync's 3M events that way)."""
    for name in sorted(sources if sources else {src for src, _, _ in all_tables()}):
        trigger_fetch(settings, name)


def lake(settings: Settings) -> Lake:
    return Lake(settings.lake_bucket, settings.region, settings.emulator_url)


def lake_ids(settings: Settings, table: str, key: str = "id") -> tuple[int, int]:
    """(rows, distinct keys) of a lake table, as of its latest commit."""
    files = lake(settings).read(table, [key])
    if not files:
        return 0, 0
    data = pa.concat_tables([t for _, t in files])
    return data.num_rows, pc.count_distinct(data[key]).as_py()


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

    @property
    def reject_share(self) -> float:
        return self.rejected_records / self.records_read if self.records_read else 0.0

    @property
    def too_many_rejects(self) -> bool:
        return self.reject_share > self.reject_threshold

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.lake_duplicates == 0 and \
            self.lake_rows == self.postgres_rows and not self.too_many_rejects


def _records_read(conn: psycopg.Connection[Any]) -> dict[str, int]:
    if conn.execute("SELECT to_regclass('load_log')").fetchone() == (None,):
        return {}
    return {name: int(n or 0) for name, n in conn.execute(
        "SELECT source || '/' || stream, sum(records) FROM load_log GROUP BY 1")}


def verify(settings: Settings, sources: set[str] | None = None) -> list[Verdict]:
    store = _checkpoints(settings)
    out = []
    paused = paused_sources(settings)
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        found = rejects.by_stream(conn)
        read = _records_read(conn)
        for source, stream, table in all_tables():
            if (sources and source not in sources) or source in paused:
                continue
            total = int(store.meta(source, stream).get("total", 0))
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
                total = total if latest is None else latest
            rejected = conn.execute(sql.SQL(
                "SELECT count(DISTINCT r.record_id) FROM rejects r WHERE r.source = %s AND "
                "r.stream = %s AND NOT EXISTS (SELECT 1 FROM {} t WHERE t.{} = r.record_id)"
            ).format(sql.Identifier(table.name), sql.Identifier(table.key)),
                (source, stream)).fetchone()[0] if exists else 0  # type: ignore[index]
            lake_rows, lake_distinct = lake_ids(settings, table.name, table.key)
            name = f"{source}/{stream}"
            seen = found.get(name, StreamRejects(name))
            out.append(Verdict(name, total, rows, lake_rows, lake_rows - lake_distinct,
                               rejected, total - rows - rejected, read.get(name, 0),
                               seen.rejected, settings.reject_threshold, seen.reasons))
    return out


def wait(settings: Settings, on_tick: Any, timeout_s: float, stalled_after_s: float = 20.0,
         sources: set[str] | None = None) -> Progress:
    """Poll until settled. While partitions remain but fetching has made no progress for a
    while (a fetcher crashed, or ran out of time budget), start another fetch."""
    started = last_change = time.monotonic()
    last_fetched = -1
    while True:
        prog = progress(settings, sources)
        on_tick(prog)
        if prog.settled:
            return prog
        now = time.monotonic()
        if now - started > timeout_s:
            raise TimeoutError(f"ingestion not settled after {timeout_s:.0f}s")
        fetched = sum(s.fetched for s in prog.streams.values())
        if fetched != last_fetched:
            last_fetched, last_change = fetched, now
        fetching = any(s.partitions != s.partitions_done and not s.paused
                       for s in prog.streams.values())
        if fetching and now - last_change > stalled_after_s:
            trigger_fetches(settings, sources)  # a lapsed lease is taken over by these
            last_change = now
        time.sleep(1.0)  # each poll costs the emulator; the fetchers checkpoint every page
