"""Where an ingestion stands, per stream, from where the pipeline keeps it: partitions and
upstream totals in DynamoDB, loaded pages in PostgreSQL's ``load_log``, queue depth in SQS,
schedules (paused or not) in EventBridge. The CLI and the HTTP control API both read this."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    failure: Failure | None = None  # why fetching it fails (retrying, or given up)

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
        done = self.pages_loaded - self.lake_pending
        given_up = self.failure.partitions if self.failure and self.failure.final else 0
        if self.failure and self.failure.final and not self.partitions:
            return True  # planning failed: there is nothing to fetch
        if self.continuous and not given_up:
            return done > 0
        # A partition given up on is settled too: it will not move until its next pass.
        return bool(self.partitions) and self.partitions == self.partitions_done + given_up \
            and done >= self.pages_landed and not self.lake_pending


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


def _queue_depth(sqs: Any, name: str) -> tuple[int, int]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


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
            sp.fetched += p.records
            sp.pages_landed += p.seq
        out.streams[sp.stream] = sp
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
    out.queue_visible, out.queue_in_flight = _queue_depth(aws.sqs, "tributary-transform")
    out.dlq = sum(_queue_depth(aws.sqs, "tributary-transform-dlq"))
    return out


def _iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat(
        timespec="seconds")
