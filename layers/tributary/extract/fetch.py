"""The fetch function's work: plan, lease partitions, land pages, checkpoint after each.

A page lands unchanged (gzip) in the raw zone, then one SQS message names it, then the
partition's checkpoint moves past it. A crash anywhere repeats at most that one page, at the
same raw key; the transform's upserts absorb the repeat.

A due pass of a stream with a version (a snapshot's ETag) starts with a conditional request
and no lease: a 304 writes nothing (the check is noted in the checkpoint at most once a
``fetch_unchanged_note_s``); a changed version reopens and leases the partition, then lands.

A stream that fails records why in its own checkpoint (``Checkpoints.fail``) and is tried
again after a backoff, or at its next pass once retrying cannot help; the invocation itself
succeeds, so nothing retries it, and its sibling streams are neither held up nor fetched again.

The same code fetches every declared source. A scheduled invocation names its source and may
keep polling for ``poll_s`` seconds (streams polled more often than the schedule's minute),
re-checking before each round that its schedule is still enabled (``tributary pause``).
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from tributary.clients import aws_client
from tributary.extract.checkpoints import Checkpoints, LeaseLost, Partition, StreamState
from tributary.extract.http import ApiError, RateLimitedClient, permanent
from tributary.extract.stream import Page, StreamFetcher, client_for, fetcher_for, newer
from tributary.log import get_logger
from tributary.pause import PauseSwitch
from tributary.settings import Settings, get_settings
from tributary.sources import loader
from tributary.sources.decoders import decode
from tributary.sources.paths import dig, records_at
from tributary.sources.spec import Source, Stream

log = get_logger("extract.fetch")


def raw_key(p: Partition, seq: int, run: str) -> str:
    day = datetime.fromtimestamp((p.since if p.kind == "feed" else time.time() * 1000) / 1000,
                                 UTC).strftime("%Y-%m-%d")
    return f"source={p.source}/stream={p.stream}/dt={day}/{run}/{p.name}-{seq:06d}.json.gz"


class Fetcher:
    def __init__(self, settings: Settings, owner: str,
                 remaining_s: Callable[[], float]) -> None:
        self.settings = settings
        self.owner = owner
        self.remaining_s = remaining_s
        self.store = Checkpoints(settings.checkpoints_table, settings.fetch_lease_s)
        self.s3 = aws_client("s3")
        self.sqs = aws_client("sqs")
        self.pages = 0
        self.records = 0
        self.not_modified = 0
        self.failed: dict[str, str] = {}  # "<source>/<stream>[/<partition>]": why
        self.clients: dict[str, RateLimitedClient] = {}  # one per source: pacers outlive rounds
        self.paused = PauseSwitch()
        # per source: when its next pass or retry is due (epoch s), as its last round left it
        self.next_due: dict[str, float] = {}
        # per partition (pk, name): when a probe last found it unchanged (epoch s)
        self.checked: dict[tuple[str, str], float] = {}
        # this round's child partitions per (source, stream), as read once and added to
        self.children: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def run(self, source: Source, streams: list[str], force: bool) -> dict[str, Any]:
        """One round: plan the streams (passes that are due), fetch every open partition;
        parents before their children, whose partitions the parents' records make."""
        started = time.monotonic()
        if source.name not in self.clients:
            self.clients[source.name] = client_for(source)
        client = self.clients[source.name]
        fetchers = [fetcher_for(source, source.stream(s), client) for s in streams]
        worked = 0
        self.children.clear()
        states: dict[str, StreamState] = {}
        for level in _levels(source, fetchers):
            todo = [(f, p, probe) for f in level
                    for p, probe in self._plan(f, force, states.setdefault(
                        f.stream.name, StreamState()))]
            with ThreadPoolExecutor(self.settings.fetch_parallelism) as pool:
                worked += sum(pool.map(
                    lambda t: self._partition(t[0], t[1], t[2], forced=force), todo))
        left = 0
        self.next_due[source.name] = math.inf
        for f in fetchers:  # as this round left them (another fetcher's work shows next round)
            parts = states[f.stream.name].partitions
            left += sum(1 for p in parts if p.status == "pending")
            interval = source.interval(f.stream)
            self.next_due[source.name] = min([self.next_due[source.name], *(
                self._finished(p) + interval if p.status == "done" else p.retry_at
                for p in parts)])
        return {"source": source.name, "partitions_worked": worked, "partitions_left": left,
                "failed": {k: v for k, v in self.failed.items()
                           if k.startswith(f"{source.name}/")},
                "pages": self.pages, "records": self.records, "not_modified": self.not_modified,
                "seconds": round(time.monotonic() - started, 2), "http": client.stats.as_dict()}

    def _plan(self, f: StreamFetcher, force: bool, state: StreamState
              ) -> list[tuple[Partition, bool]]:
        """The stream's partitions to fetch now, each with whether it is a probe: its due
        passes opened (or to be probed), its failed partitions opened again when forced or
        due; none if planning itself failed (it is tried again next round). ``state`` is
        filled with the stream's checkpoints as planned."""
        name = f"{f.source.name}/{f.stream.name}"
        fresh = self.store.stream(f.source.name, f.stream.name)
        state.meta, state.partitions = fresh.meta, fresh.partitions
        try:
            probes = f.plan(self.store, state, force)
        except Exception as exc:  # noqa: BLE001 - a stream's own failure stays its own
            log.exception("planning failed", extra={"stream": name})
            self.failed[name] = str(exc)
            self.store.set_meta(f.source.name, f.stream.name, error=_why(exc),
                                error_at=Decimal(str(round(time.time(), 3))))
            return []
        if state.meta.get("error"):
            self.store.unset_meta(f.source.name, f.stream.name, "error", "error_at")
        now = time.time()
        for p in state.partitions:
            if p.status == "failed" and (force or p.retry_at <= now):
                self.store.reopen(p)
        due = now - f.source.interval(f.stream)
        return [(p, False) for p in state.partitions
                if p.status == "pending" and p.retry_at <= now] + [
                    (p, True) for p in probes if force or self._finished(p) <= due]

    def _finished(self, p: Partition) -> float:
        """When its last pass ended, or a probe last found it unchanged."""
        return max(p.finished_at, self.checked.get((p.pk, p.name), 0.0))

    def _failed(self, f: StreamFetcher, p: Partition, exc: Exception) -> None:
        """Record the failure in the partition's checkpoint: tried again after a backoff, or
        at the stream's next pass once retrying cannot help or the attempts are spent."""
        final = permanent(exc) or p.attempts + 1 >= self.settings.fetch_max_attempts
        wait = f.source.interval(f.stream) if final else \
            self.settings.fetch_retry_s * 2 ** p.attempts
        self.failed[f"{p.source}/{p.stream}/{p.name}"] = str(exc)
        log.error("partition failed", exc_info=exc, extra={
            "stream": f"{p.source}/{p.stream}", "partition": p.name, "final": final,
            "attempt": p.attempts + 1, "retry_in_s": round(wait, 1)})
        self.store.fail(p, self.owner, _why(exc), final, time.time() + wait)

    def _partition(self, f: StreamFetcher, p: Partition, probe: bool = False,
                   forced: bool = False) -> int:
        if self.remaining_s() < self.settings.fetch_margin_s:
            return 0
        pages: Iterator[Page] = f.pages(p)
        if probe:
            first = _first(pages)
            if first is None or isinstance(first, Page) and (first.not_modified or first.skipped):
                self._unchanged(p, isinstance(first, Page) and first.not_modified, forced)
                return 1
            # Changed (or the request failed, which is recorded as any failure is): the pass
            # is this fetcher's only if it reopens the partition first.
            if not self.store.reopen(p):
                return 0
            pages = itertools.chain([first], pages) if isinstance(first, Page) else \
                _raising(first)
        if not self.store.lease(p, self.owner):
            return 0
        run = datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
        try:
            for page in pages:
                if page.not_modified or page.skipped:  # the version landed, or nothing to land
                    self.not_modified += page.not_modified
                    self.store.advance(p, self.owner, landed=p.seq, done=True)
                    break
                # The high water is the top of the listing as this pass first saw it, even when
                # the pass is resumed by another fetcher from a checkpointed cursor.
                if f.incremental == "high_water" and p.pass_top is None:
                    p.pass_top = page.first_id
                elif f.incremental == "param":
                    p.pass_top = newer(p.pass_top, page.top)
                # A page of no records (a poll that found nothing new) lands nothing: no raw
                # object, no message, no load. A snapshot's empty page is news: its rows went.
                if page.records or f.stream.is_snapshot:
                    self._land(p, page, run)
                    self._children(f, p, page)
                    p.seq += 1
                p.records += page.records
                p.etag = page.etag or p.etag
                p.last_ts = page.last_ts if page.last_ts is not None else p.last_ts
                finished = page.next_position is None or bool(
                    p.high_water and p.high_water in page.ids)
                # A feed read oldest first goes on, next pass, from where this one ended.
                p.cursor = page.position if page.next_position is None and \
                    f.incremental == "resume" else page.next_position
                if finished and p.pass_top:
                    p.high_water, p.pass_top = p.pass_top, None
                if page.total is not None and f.stream.parent:
                    p.total = page.total  # the count for this parent (summed by the reader)
                elif page.total is not None and f.incremental != "param":
                    # (A pass bounded by an incremental parameter counts what changed since
                    # the last one, not what the upstream holds: it says no total.)
                    self.store.set_meta(p.source, p.stream, total=page.total)
                self.store.advance(p, self.owner, landed=p.seq, done=finished)
                if finished or self.remaining_s() < self.settings.fetch_margin_s or \
                        self.paused(p.source):
                    break
        except LeaseLost as exc:
            log.warning("partition taken over", extra={"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - recorded where the stream's state is
            try:
                self._failed(f, p, exc)
            except LeaseLost as lost:
                log.warning("partition taken over", extra={"error": str(lost)})
        finally:
            self.store.release(p, self.owner)
        return 1

    def _unchanged(self, p: Partition, not_modified: bool, forced: bool) -> None:
        """A probe found the version landed: nothing is written but, now and then, the check
        itself (so status shows the stream as fetched, and a restarted poller waits). A
        forced pass (``tributary ingest``) always notes it: the one who asked waits for the
        check, and would otherwise ask again for a pass that was made."""
        now = time.time()
        self.checked[(p.pk, p.name)] = now
        self.not_modified += not_modified
        if forced or now - p.finished_at >= self.settings.fetch_unchanged_note_s:
            self.store.checked(p, now)

    def _children(self, f: StreamFetcher, p: Partition, page: Page) -> None:
        """A partition per record of this page for each child stream: before the page's
        checkpoint moves, so a crash repeats the page and finds them (adding is idempotent)."""
        kids = [s for s in f.source.streams if s.parent and s.parent.stream == f.stream.name]
        if not kids or not page.records:
            return
        records = records_at(decode(page.body, f.stream.decoder), f.stream.records_path) or []
        for kid in kids:
            known = self._known(f.source.name, kid.name)
            for part in child_partitions(f.source.name, kid, records):
                if part.name not in known:  # a pass after the first adds only the new ones
                    self.store.add(part)
                    known.add(part.name)

    def _known(self, source: str, stream: str) -> set[str]:
        """The child stream's partitions, read once per round (rather than a conditional
        put per parent record and pass)."""
        with self._lock:
            if (source, stream) not in self.children:
                self.children[(source, stream)] = {
                    p.name for p in self.store.partitions(source, stream, only=("status",))}
            return self.children[(source, stream)]

    def _land(self, p: Partition, page: Page, run: str) -> None:
        key = raw_key(p, p.seq, run)
        # A child's page carries its parent's fields beside the body, which stays as sent.
        meta = {"parent": json.dumps(p.extra["include"])} if p.extra.get("include") else {}
        self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key,
                           Body=gzip.compress(page.body, compresslevel=1), Metadata=meta,
                           ContentType="application/json", ContentEncoding="gzip")
        self.sqs.send_message(QueueUrl=self.settings.transform_queue_url, MessageBody=orjson.dumps({
            "bucket": self.settings.raw_bucket, "key": key, "source": p.source,
            "stream": p.stream, "partition": p.name, "seq": p.seq, "records": page.records,
            "fetched_at": int(time.time() * 1000),
        }).decode())
        self.pages += 1
        self.records += page.records


def _first(pages: Iterator[Page]) -> Page | Exception | None:
    """The first page, or what asking for it raised."""
    try:
        return next(pages, None)
    except Exception as exc:  # noqa: BLE001 - handed to the leased fetch, which records it
        return exc


def _raising(exc: Exception) -> Iterator[Page]:
    """Pages that fail as the probe's request did."""
    raise exc
    yield  # a generator: it raises when the fetch asks for its first page


def _why(exc: Exception) -> str:
    """What a user reads in ``tributary status``: the error's own words, and its type when
    they do not say what went wrong."""
    text = str(exc)
    return text if isinstance(exc, ApiError) and text else f"{type(exc).__name__}: {text}"


def _levels(source: Source, fetchers: list[StreamFetcher]) -> list[list[StreamFetcher]]:
    """The streams in rounds: those with no parent, then their children, and so on."""
    depth: dict[str, int] = {}
    for s in source.streams:  # a parent is declared before its children
        depth[s.name] = depth[s.parent.stream] + 1 if s.parent else 0
    return [[f for f in fetchers if depth[f.stream.name] == d]
            for d in sorted({depth[f.stream.name] for f in fetchers})]


def child_partitions(source: str, stream: Stream, parents: list[Any]) -> list[Partition]:
    """One partition per parent record: named by its placeholder values, holding them and
    the parent's fields the child copies."""
    assert stream.parent is not None
    out = []
    for record in parents:
        params = {k: dig(record, path) for k, path in stream.parent.params.items()}
        if not isinstance(record, dict) or any(v is None for v in params.values()):
            continue  # no key to ask with: the parent's own load rejects it
        include = {k: dig(record, path) for k, path in stream.parent.include.items()}
        name = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        out.append(Partition(source, stream.name, name, stream.pagination.style,
                             extra={"params": {k: str(v) for k, v in params.items()},
                                    "include": include}))
    return out


def _targets(event: dict[str, Any]) -> list[tuple[Source, list[str]]]:
    """``{"source": s, "streams": [...]}``; no source: every declared one."""
    names = [event["source"]] if event.get("source") else sorted(loader.sources())
    out = []
    for name in names:
        src = loader.source(name)
        streams = list(event.get("streams") or [s.name for s in src.streams])
        for s in streams:
            loader.stream(name, s)  # a clear error for an unknown stream
        out.append((src, streams))
    return out


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    targets = _targets(event)
    force, poll_s = bool(event.get("force")), float(event.get("poll_s", 0))

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    fetcher = Fetcher(get_settings(), context.aws_request_id, remaining)
    if poll_s:  # one polling loop per source at a time: a late one leaves it to the first
        targets = [(s, st) for s, st in targets
                   if fetcher.store.hold(f"{s.name}#_poller", fetcher.owner, poll_s + 60)]
    deadline = time.monotonic() + poll_s
    rounds: list[dict[str, Any]] = []
    while targets:
        for source, streams in targets:
            if fetcher.paused(source.name):
                rounds.append({"source": source.name, "paused": True})
                continue
            rounds.append(fetcher.run(source, streams, force))
        force = False  # later rounds fetch only what is due
        # The next round when something is due (at most a second from now if something is
        # already): a round costs a few checkpoint reads per stream even when nothing is due.
        due_in = min(fetcher.next_due.get(s.name, 0.0) for s, _ in targets) - time.time()
        wait = min(max(1.0, due_in), deadline - time.monotonic())
        if wait <= 0 or remaining() - wait < get_settings().fetch_margin_s:
            break
        time.sleep(wait)
    for source, _ in targets if poll_s else []:
        fetcher.store.let_go(f"{source.name}#_poller", fetcher.owner)
    result = {"rounds": len(rounds), "pages": fetcher.pages, "records": fetcher.records,
              "not_modified": fetcher.not_modified, "last": rounds[-len(targets):]}
    log.info("fetch finished", extra=result)
    return result
