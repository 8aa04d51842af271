"""The live consumer: keeps a local copy of a broadcast table exact, for as long as it holds
the stream, then hands over to its successor.

One loop, so every write to the copy is in order:
- messages from the socket are applied in small batches (one transaction each), then pushed
  to subscribers;
- windows read over HTTP (two at a time, in threads) are applied when they arrive: first the
  initial copy (each window checkpointed), then repairs: all windows after every
  (re)connect (a gap may lie behind it), and a few at a time periodically;
- every fifth of the lease it is renewed; a ready successor takes over at a batch boundary;
  a paused schedule (``tributary pause <source>``) ends the loop;
- applied changes go to the raw zone and the lake every ``live_flush_s``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from tributary.clients import aws_client, pg_connect
from tributary.live.changes import BadMessage, Change, fingerprint, parse, parser_for
from tributary.live.copy import Applied, Fenced, LocalCopy
from tributary.live.fanout import Subscribers
from tributary.live.flush import flush
from tributary.live.holder import Holder, HolderLost
from tributary.live.upstream import Connected, Listener, Message, Upstream, Window, plan
from tributary.log import get_logger
from tributary.pause import PauseSwitch
from tributary.settings import get_settings
from tributary.sources.live import LiveSource

log = get_logger("live.consumer")
MARGIN_S = 5.0  # stop this long before the function's timeout
TAIL = 64  # fingerprints handed to a successor


class Consumer:
    def __init__(self, source: LiveSource, me: str, remaining_s: Callable[[], float]) -> None:
        self.cfg = get_settings()
        self.source = source
        self.stream = source.stream
        self.name = f"{source.name}/{self.stream.name}"
        self.remaining_s = remaining_s
        self.copy = LocalCopy(self.stream, self.name)
        self.conn = pg_connect()
        self.holder = Holder(self.cfg.checkpoints_table, self.name, me, self.cfg.live_lease_s)
        self.upstream = Upstream(source)
        self.inbox: queue.Queue[Message | Connected] = queue.Queue()
        self.stop = threading.Event()
        self.listener = Listener(source, self.inbox, self.stop, auth=self.upstream.auth)
        self.subscribers = Subscribers(self.name, self._catch_up)
        self.parser = parser_for(self.stream)
        self.paused = PauseSwitch(2.0)
        self.reads = ThreadPoolExecutor(2, thread_name_prefix="window")
        self.in_flight: list[tuple[Future[Window], str]] = []
        self.todo: deque[tuple[int, int, str]] = deque()
        self.tail: deque[str] = deque(maxlen=TAIL)
        self.windows: list[tuple[int, int]] = []
        self.copied: set[int] = set()
        self.rotation = 0
        self.repairing_since: float | None = None
        self._reader: psycopg.Connection[Any] | None = None  # when the last full read began
        self.counts = {"messages": 0, "applied": 0, "bad_messages": 0, "windows_copied": 0,
                       "rows_copied": 0, "windows_repaired": 0, "rows_repaired": 0,
                       "reconnects": 0, "flushed": 0, "pushed": 0}

    # -- taking the stream -------------------------------------------------------------------------
    def take(self, predecessor: str | None) -> list[Message | Connected] | None:
        """Hold the stream; returns what to process first (None: not ours to hold)."""
        if predecessor and self.holder.register(predecessor):
            self.listener.start()
            self._first_message(timeout_s=3.0)
            self.holder.ready()
            handed = self.holder.await_handover(self.cfg.live_handover_s + 10)
            buffered = self._drain_all()
            if handed is not None:
                log.info("took over", extra={"stream": self.name, "epoch": handed.epoch})
                return _after_tail(buffered, handed.tail)
            if not self.holder.claim_when_lapsed(self.cfg.live_lease_s * 1.5):
                return None
            return buffered  # its first Connected marker makes it a full repair
        if not self.holder.claim_when_lapsed(self.cfg.live_lease_s * 1.5):
            return None
        self.listener.start()
        return []

    def _first_message(self, timeout_s: float) -> None:
        """Let the new socket see a message or two before saying ready."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.inbox.qsize() < 2:
            time.sleep(0.05)

    def _drain_all(self) -> list[Message | Connected]:
        out: list[Message | Connected] = []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, predecessor: str | None) -> dict[str, Any]:
        """Hold the stream until paused, handed over, lost or out of time. Every ending is
        logged, including a pause seen before the loop began (a successor started just as
        the source was paused ends there)."""
        try:
            out = self._run(predecessor)
        finally:
            self.conn.close()
            if self._reader is not None:
                self._reader.close()
        log.info("live consumer finished", extra=out)
        return out

    def _run(self, predecessor: str | None) -> dict[str, Any]:
        self.copy.ensure(self.conn)
        if self.paused(self.source.name):
            return {"stream": self.name, "result": "paused"}
        first = self.take(predecessor)
        if first is None:
            return {"stream": self.name, "result": "held by another holder"}
        # Paused while it waited for the stream (its predecessor stopped for that pause): ask
        # now, not the answer cached before the wait, or it would apply for another while.
        if self.paused.now(self.source.name):
            self.stop.set()
            self.holder.release()
            return {"stream": self.name, "result": "paused"}
        epoch = self.holder.epoch
        self.subscribers.start()
        self._plan()
        started = time.monotonic()
        end = started + (self.cfg.live_hold_s or float("inf"))
        result = "timeout"
        beat = flushed = last_repair = time.monotonic()
        successor_started = False
        pending: list[Message | Connected] = first
        try:
            while True:
                items = pending or self._drain(self.cfg.live_batch_s)
                pending = []
                self._apply(epoch, items)
                self._windows(epoch)
                now = time.monotonic()
                if now - last_repair >= self.stream.repair_every_s:
                    last_repair = now
                    self._periodic_repair()
                if now - flushed >= self.cfg.live_flush_s:
                    flushed = now
                    self.counts["flushed"] += flush(self.conn, self.copy, self.source.name, epoch)
                if now - beat < self.cfg.live_lease_s / 5:
                    continue
                beat = now
                item = self.holder.renew()
                # A successor takes over once no window is being read: pending repairs
                # would be lost with this holder.
                if item.get("ready") and item.get("successor") and not (
                        self.todo or self.in_flight):
                    self.holder.hand_over(str(item["successor"]), list(self.tail))
                    result = "handed over"
                    break
                if self.paused(self.source.name):
                    result = "paused"
                    break
                left = min(end - now, self.remaining_s() - MARGIN_S)
                if left <= 0:
                    break
                if left <= self.cfg.live_handover_s and not successor_started:
                    successor_started = self._start_successor()
        except (HolderLost, Fenced) as exc:
            result = f"lost the stream: {exc}"
        finally:
            self.stop.set()
            self.reads.shutdown(wait=False, cancel_futures=True)
            self.subscribers.close()
            if result != "handed over":  # also when interrupted: the runtime is stopping
                self.holder.release()
        if not result.startswith("lost"):
            with contextlib.suppress(Fenced):
                self.counts["flushed"] += flush(self.conn, self.copy, self.source.name, epoch)
        self.counts["reconnects"] = max(0, self.listener.connects - 1)
        self.counts["pushed"] = self.subscribers.pushed
        return {"stream": self.name, "result": result, "epoch": epoch,
                "held_s": round(time.monotonic() - started, 1), **self.counts}

    def _drain(self, batch_s: float) -> list[Message | Connected]:
        try:
            # Windows being read: come back soon to apply them; else wait for the socket.
            items = [self.inbox.get(timeout=0.01 if self.in_flight else 0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + batch_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                items.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return items

    def _apply(self, epoch: int, items: list[Message | Connected]) -> None:
        changes: list[Change] = []
        for item in items:
            if isinstance(item, Connected):
                self._repair_all(item)
                continue
            self.counts["messages"] += 1
            self.tail.append(fingerprint(item.text))
            try:
                changes.append(parse(self.stream, item.text, item.received_at, self.parser))
            except BadMessage as exc:
                self.counts["bad_messages"] += 1
                log.warning("message skipped", extra={"stream": self.name, "error": str(exc),
                                                      "message": item.text[:200]})
        if changes:
            self._publish(self.copy.apply_changes(self.conn, epoch, changes))

    def _catch_up(self, after: int, start: int, stop: int) -> list[Applied] | None:
        """For the publisher's thread (its own connection): the log after ``after``."""
        if self._reader is None:
            self._reader = pg_connect(autocommit=True)
        return self.copy.changes_after(self._reader, after, start, stop,
                                       self.cfg.live_catchup_max)

    def _publish(self, applied: list[Applied]) -> None:
        self.counts["applied"] += len(applied)
        self.subscribers.publish(applied)

    # -- windows -----------------------------------------------------------------------------------
    def _plan(self) -> None:
        self.windows = self.holder.plan() or self.holder.set_plan(plan(self.source, time.time()))
        self.copied = self.holder.copied()
        self.todo.extend((a, b, "copy") for a, b in self.windows if a not in self.copied)

    def _repair_all(self, marker: Connected) -> None:
        """After a (re)connect every window is read again: changes may have been missed."""
        queued = {a for a, _, _ in self.todo}
        self.todo.extend((a, b, "repair") for a, b in self.windows
                         if a in self.copied and a not in queued)
        self.repairing_since = self.repairing_since or marker.at
        log.info("change stream connected; repairing", extra={
            "stream": self.name, "connect": marker.attempt, "windows": len(self.todo)})

    def _periodic_repair(self) -> None:
        done = [w for w in self.windows if w[0] in self.copied]
        queued = {a for a, _, _ in self.todo}
        for _ in range(min(self.stream.repair_windows, len(done))):
            a, b = done[self.rotation % len(done)]
            self.rotation += 1
            if a not in queued:
                self.todo.append((a, b, "repair"))

    def _windows(self, epoch: int) -> None:
        # One window per turn of the loop: changes waiting on the socket go between.
        for fut, origin in [f for f in self.in_flight if f[0].done()][:1]:
            self.in_flight.remove((fut, origin))
            self._apply_window(epoch, fut.result(), origin)
            if not (self.todo or self.in_flight) and self.repairing_since is not None:
                log.info("windows read again", extra={
                    "stream": self.name, "seconds": round(time.time() - self.repairing_since,
                                                          3)})
                self.repairing_since = None
        while self.todo and len(self.in_flight) < 2:
            a, b, origin = self.todo.popleft()
            self.in_flight.append((self.reads.submit(self._read, a, b, origin), origin))

    def _read(self, start: int, stop: int, origin: str) -> Window:
        """In a reader thread: the window, landed in the raw zone if it is a first copy."""
        w = self.upstream.window(start, stop)
        if origin == "copy":
            self._land(w)
        return w

    def _apply_window(self, epoch: int, w: Window, origin: str) -> None:
        applied, written = self.copy.apply_window(self.conn, epoch, w.start, w.stop, w.csv,
                                                  w.read_at, origin)
        self._publish(applied)
        if origin == "copy":
            self.holder.mark_copied(w.start, w.stop, w.rows)
            self.copied.add(w.start)
            self.counts["windows_copied"] += 1
            self.counts["rows_copied"] += written
        else:
            self.counts["windows_repaired"] += 1
            self.counts["rows_repaired"] += written

    def _land(self, w: Window) -> None:
        """The first copy's windows land in the raw zone as read."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        key = (f"source={self.source.name}/stream={self.stream.name}/dt={day}/copy/"
               f"{w.start}_{w.stop}.json.gz")
        aws_client("s3").put_object(Bucket=self.cfg.raw_bucket, Key=key,
                                    Body=gzip.compress(w.body, 1), ContentEncoding="gzip",
                                    ContentType="application/json")

    def _start_successor(self) -> bool:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not name:
            return False
        aws_client("lambda").invoke(FunctionName=name, InvocationType="Event",
                                    Payload=orjson.dumps({"source": self.source.name,
                                                          "successor_of": self.holder.me}))
        log.info("successor started", extra={"stream": self.name})
        return True


def _after_tail(buffered: list[Message | Connected], tail: list[str]
                ) -> list[Message | Connected]:
    """What a successor still has to apply: its buffer after the predecessor's last applied
    message. Its own first connect needs no repair when the two overlap."""
    prints = [fingerprint(m.text) if isinstance(m, Message) else None for m in buffered]
    if tail and tail[-1] in prints:
        cut = len(prints) - 1 - prints[::-1].index(tail[-1])
        return buffered[cut + 1:]
    if tail and any(t in prints for t in tail):
        return buffered  # they overlap, but not as expected: repair (its Connected marker)
    return [m for m in buffered if isinstance(m, Message)] if tail else buffered


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from tributary.sources import loader

    source = loader.live_source(str(event.get("source") or ""))

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    return Consumer(source, context.aws_request_id, remaining).run(event.get("successor_of"))
