"""Where an ingestion stands, per stream, from where the pipeline keeps it: partitions and
upstream totals in DynamoDB, loaded pages in PostgreSQL's ``load_log``, queue depth in SQS,
schedules (paused or not) in EventBridge. The CLI and the HTTP control API both read this."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from tributary.control.rejects import Reason, RejectRate, by_stream
from tributary.extract.checkpoints import ERROR_FIELDS, Checkpoints, Failure, StreamState
from tributary.load.tables import all_tables
from tributary.pause import paused_sources
from tributary.settings import Settings


@dataclass(frozen=True)
class Aws:
    """The clients to ask: the emulator's from the CLI, the function's own on AWS."""

    dynamodb: Any  # a boto3 resource
    events: Any
    sqs: Any


@dataclass
class StreamProgress:
    stream: str  # "<source>/<stream>"
    upstream_total: int = 0
    upstream_known: bool = False  # the API said its count (else upstream_total means nothing)
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
    fetched_at: float | None = None  # epoch s: the last fetch pass ended (a 304 counts)
    changed_at: float | None = None  # epoch s: fetched, the last page that changed a row
    failure: Failure | None = None  # why fetching or loading it fails (retrying, or given up)
    partitions_failed: int = 0  # given up on until their next pass
    pages_failed: int = 0  # pages whose loads failed for good (in the dead-letter queue)

    @property
    def rejects(self) -> RejectRate:
        return RejectRate(self.rejected, self.transformed, self.reject_threshold)

    def as_dict(self) -> dict[str, Any]:
        failure = None if self.failure is None else asdict(self.failure) | {
            "since": _iso(self.failure.since)}
        return asdict(self) | {"reject_share": round(self.rejects.share, 6),
                               "failed": self.failed, "settled": self.settled,
                               "failure": failure, "freshness": self.freshness()}

    @property
    def failed(self) -> bool:
        """Rejects above the threshold, or a fetch failure nothing will retry until its
        next pass."""
        return self.rejects.too_high or bool(self.failure and self.failure.final)

    @property
    def done(self) -> bool:
        """Settled, and nothing failed."""
        return self.settled and not self.paused and not self.failed

    def freshness(self, now: float | None = None) -> dict[str, Any]:
        """When upstream was last seen changing, when it was last fetched, and how stale the
        copy may be (seconds since that fetch)."""
        now = time.time() if now is None else now
        return {"last_changed_upstream": _iso(self.changed_at),
                "last_fetched": _iso(self.fetched_at),
                "lag_s": None if self.fetched_at is None else round(now - self.fetched_at, 1)}

    @property
    def settled(self) -> bool:
        """Fetched to the end and every landed page loaded and in the lake; for a snapshot,
        a first version loaded and in the lake (newer ones keep coming)."""
        if self.paused:
            return True
        done = self.pages_loaded - self.lake_pending + self.pages_failed
        if self.failure and self.failure.final and not self.partitions:
            return True  # planning failed: there is nothing to fetch
        if self.continuous and not self.partitions_failed:
            return done > 0
        # What was given up on is settled too: it will not move until its next pass.
        return bool(self.partitions) and \
            self.partitions == self.partitions_done + self.partitions_failed and \
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

    @property
    def queue(self) -> dict[str, int]:
        return {"visible": self.queue_visible, "in_flight": self.queue_in_flight,
                "dead_letter": self.dlq}

    def as_dict(self) -> dict[str, Any]:
        return {"streams": {k: v.as_dict() for k, v in self.streams.items()},
                "queue": self.queue, "settled": self.settled,
                "failed": sorted(k for k, v in self.streams.items() if v.failed)}


def queue_depth(sqs: Any, name: str) -> tuple[int, int, int]:
    """Messages waiting, in flight, and the deliveries after which one is dead-lettered."""
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "RedrivePolicy"])["Attributes"]
    redrive = orjson.loads(attrs.get("RedrivePolicy") or "{}")
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]), int(redrive.get("maxReceiveCount", 5))


def progress(settings: Settings, aws: Aws, sources: set[str] | None = None,
             reasons: bool = False) -> Progress:
    """Figures per stream; with ``reasons``, each stream's top reject reasons too."""
    states = Checkpoints(settings.checkpoints_table, settings.fetch_lease_s,
                         aws.dynamodb).streams(only=("status", "records", "seq", "finished_at",
                                                     *ERROR_FIELDS, "error_at"))
    out = Progress()
    paused = paused_sources(aws.events)
    for source, stream, table in all_tables():
        if sources and source not in sources:
            continue
        state = states.get((source, stream), StreamState())
        sp = StreamProgress(f"{source}/{stream}", paused=source in paused,
                            upstream_total=state.total or 0,
                            upstream_known=state.total is not None, continuous=table.snapshot,
                            reject_threshold=settings.reject_threshold, failure=state.failure)
        for p in state.partitions:
            if p.finished_at:
                sp.fetched_at = max(sp.fetched_at or 0.0, p.finished_at)
            sp.partitions += 1
            sp.partitions_done += p.status == "done"
            sp.partitions_failed += p.status == "failed"
            sp.fetched += p.records
            sp.pages_landed += p.seq
        out.streams[sp.stream] = sp
    out.queue_visible, out.queue_in_flight, deliveries = queue_depth(aws.sqs,
                                                                      "tributary-transform")
    out.dlq = sum(queue_depth(aws.sqs, "tributary-transform-dlq")[:2])
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('load_log')").fetchone() != (None,):
            for name, pages, recs, changed, rejected, pending, changed_ms in conn.execute(
                    "SELECT source || '/' || stream, count(*), sum(records), sum(changed), "
                    "sum(rejected), count(*) FILTER (WHERE NOT lake_done), "
                    "max(fetched_at) FILTER (WHERE changed > 0) FROM load_log GROUP BY 1"):
                if name in out.streams:
                    sp = out.streams[name]
                    sp.pages_loaded, sp.transformed, sp.changed = pages, recs, changed
                    sp.rejected, sp.lake_pending = rejected, pending
                    sp.changed_at = None if changed_ms is None else changed_ms / 1000
            if reasons:
                for name, found in by_stream(conn).items():
                    if name in out.streams:
                        out.streams[name].top_reasons = found.reasons
        for name, (failure, dead) in load_failures(conn, deliveries).items():
            if name in out.streams:
                sp = out.streams[name]
                sp.pages_failed = dead
                sp.failure = sp.failure or failure  # a fetch's failure says more
    return out


def load_failures(conn: psycopg.Connection[Any], deliveries: int
                  ) -> dict[str, tuple[Failure, int]]:
    """Per stream, its pages that failed to load and have not loaded since: the latest
    error, given up (``final``) once a page was delivered ``deliveries`` times, SQS's
    ``maxReceiveCount`` (it is in the dead-letter queue); and how many pages those are."""
    if conn.execute("SELECT to_regclass('page_failures')").fetchone() == (None,):
        return {}
    out = {}
    for name, error, first, last, attempts, dead in conn.execute(
            "SELECT f.source || '/' || f.stream, (array_agg(f.error ORDER BY f.last_at DESC))[1],"
            " extract(epoch FROM min(f.first_at)), extract(epoch FROM max(f.last_at)), "
            "max(f.attempts), count(*) FILTER (WHERE f.attempts >= %s) FROM page_failures f "
            "WHERE NOT EXISTS (SELECT 1 FROM load_log l WHERE l.raw_key = f.raw_key AND "
            "l.lake_done) "
            "GROUP BY 1", (deliveries,)):
        out[name] = (Failure(f"loading a page: {error}", float(first), float(last),
                             int(attempts), bool(dead)), int(dead))
    return out


def _iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat(
        timespec="seconds")
