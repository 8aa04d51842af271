"""The DataSync API as a source: how its streams split into partitions and pages.

``events`` uses the bulk feed when the server offers it: time ranges (a UTC day, split further
when a day holds more than ``partition_events``), fetched in parallel. Otherwise, and for
``sessions``, one cursor listing, newest first. Any server honouring SPEC 4.1 works.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from tributary.extract.checkpoints import Checkpoints, Partition
from tributary.extract.http import ApiError, CursorExpired, RateLimitedClient, TokenExpired
from tributary.gcpause import paused_gc
from tributary.log import get_logger
from tributary.normalize.timestamps import one_epoch_ms
from tributary.settings import DatasyncSettings

log = get_logger("extract.datasync")
DAY_MS = 86_400_000
STREAMS = ("events", "sessions")


@dataclass(frozen=True)
class Page:
    body: bytes  # exactly what the API sent
    records: int
    next_cursor: str | None
    last_ts: int | None
    first_id: str | None
    ids: frozenset[str]


class DatasyncSource:
    name = "datasync"

    def __init__(self, cfg: DatasyncSettings) -> None:
        self.cfg = cfg
        self.client = RateLimitedClient(cfg.url, {"X-API-Key": cfg.api_key.get_secret_value()},
                                        cfg.request_timeout_s)
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = threading.Lock()

    # -- stream tokens (bulk feed) --------------------------------------------------------------
    def stream_token(self, renew: bool = False) -> str:
        with self._token_lock:
            if renew or self._token is None or time.time() > self._token_until - 10:
                body = self.client.request("POST", "/api/v1/stream-access", "stream-access").json()
                self._token = str(body["token"])
                self._token_until = time.time() + float(body.get("expiresIn", 300))
            return self._token

    def _feed(self, params: dict[str, Any]) -> dict[str, Any]:
        for renew in (False, True):
            try:
                resp = self.client.request("GET", "/api/v1/events/feed", "feed", params=params,
                                           headers={"X-Stream-Token": self.stream_token(renew)})
                with paused_gc():
                    body: dict[str, Any] = orjson.loads(resp.content)
                body["_raw"] = resp.content
                return body
            except TokenExpired:
                if renew:
                    raise
                log.info("stream token expired; renewing")
        raise AssertionError("unreachable")

    def feed_available(self) -> bool:
        if not self.cfg.use_feed:
            return False
        try:
            self._feed({"since": 0, "limit": 1})
            return True
        except ApiError as exc:
            if exc.status in (403, 404):
                return False
            raise

    # -- planning -------------------------------------------------------------------------------
    def plan(self, store: Checkpoints, stream: str) -> int:
        """Add the partitions not planned yet; returns the upstream total."""
        listing = self.client.request("GET", f"/api/v1/{stream}", stream,
                                      params={"limit": 1}).json()
        total = int(listing["meta"]["total"])
        if stream == "events" and self.feed_available():
            self._plan_feed(store, total)
        else:
            parts = store.partitions(self.name, stream)
            if not parts:
                store.add(Partition(self.name, stream, "all", "cursor"))
            elif parts[0].status == "done":
                store.reopen(parts[0])  # an incremental pass: stops at the high-water mark
        store.set_meta(self.name, stream, total=total, planned_at=int(time.time()))
        return total

    def _plan_feed(self, store: Checkpoints, total: int) -> None:
        newest_page = self.client.request("GET", "/api/v1/events", "events",
                                          params={"limit": 20}).json()["data"]
        oldest_page = self._feed({"since": 0, "limit": 20})["data"]
        # Some events may lack a readable timestamp: bound the range by the readable ones,
        # from the UTC day below the oldest to now, so none falls outside every partition.
        stamps = [one_epoch_ms(e.get("timestamp")) for e in newest_page + oldest_page
                  if isinstance(e, dict)]
        readable = [t for t in stamps if t is not None]
        if not readable:
            if not newest_page:
                return  # nothing upstream yet
            raise ApiError(0, "UNREADABLE_TIMESTAMP", "cannot plan: no readable timestamps "
                           "among the newest and oldest events")
        oldest, newest = min(readable), max(readable)
        meta = store.meta(self.name, "events")
        lower = int(meta.get("until", oldest - oldest % DAY_MS))
        upper = max(newest + 1, int(time.time() * 1000))
        if upper <= lower:
            return
        per_ms = total / max(1, newest + 1 - oldest)
        data_end = min(upper, newest - newest % DAY_MS + DAY_MS)  # end of the newest's day
        day = lower - lower % DAY_MS
        while day < data_end:
            lo, hi = max(day, lower), min(day + DAY_MS, data_end)
            pieces = max(1, math.ceil(per_ms * (hi - lo) / self.cfg.partition_events))
            step = math.ceil((hi - lo) / pieces)
            for start in range(lo, hi, step):
                self._add(store, start, min(start + step, hi))
            day += DAY_MS
        if upper > max(data_end, lower):  # the quiet stretch up to now: one partition
            self._add(store, max(data_end, lower), upper)
        store.set_meta(self.name, "events", until=upper)

    def _add(self, store: Checkpoints, since: int, until: int) -> None:
        store.add(Partition(self.name, "events", f"feed-{since}-{until}", "feed", since=since,
                            until=until))

    # -- pages ----------------------------------------------------------------------------------
    def pages(self, p: Partition) -> Iterator[Page]:
        return self._feed_pages(p) if p.kind == "feed" else self._cursor_pages(p)

    @staticmethod
    def _page(body: dict[str, Any], feed: bool) -> Page:
        data = body["data"]
        pagination = body.get("pagination") or {}
        nxt = pagination.get("nextCursor") if pagination.get("hasMore") else None
        # Feeds resume from the last timestamp; listings stop at a known id (high water).
        last_ts = one_epoch_ms(data[-1].get("timestamp")) if data and feed else None
        ids = frozenset() if feed else frozenset(str(r.get("id")) for r in data)
        return Page(body["_raw"], len(data), nxt, last_ts,
                    str(data[0].get("id")) if data else None, ids)

    def _feed_pages(self, p: Partition) -> Iterator[Page]:
        cursor, since = p.cursor, p.since
        while True:
            params: dict[str, Any] = {"since": since, "until": p.until,
                                      "limit": self.cfg.feed_page_size}
            if cursor:
                params["cursor"] = cursor
            try:
                body = self._feed(params)
            except CursorExpired:
                # Resume from the last timestamp landed: at most one page is fetched again.
                log.info("cursor expired; resuming from checkpoint",
                         extra={"partition": p.name, "since": p.last_ts})
                cursor, since = None, p.last_ts if p.last_ts is not None else p.since
                continue
            page = self._page(body, feed=True)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _cursor_pages(self, p: Partition) -> Iterator[Page]:
        cursor = p.cursor
        while True:
            params: dict[str, Any] = {"limit": self.cfg.page_size}
            if cursor:
                params["cursor"] = cursor
            try:
                resp = self.client.request("GET", f"/api/v1/{p.stream}", p.stream, params=params)
            except CursorExpired:
                # Listings are newest first and cannot resume from a position: start again
                # from the top; pages already landed are absorbed by the upserts.
                log.info("cursor expired; restarting listing", extra={"stream": p.stream})
                cursor = None
                continue
            with paused_gc():
                body = orjson.loads(resp.content)
            body["_raw"] = resp.content
            page = self._page(body, feed=False)
            yield page
            if page.next_cursor is None or (p.high_water and p.high_water in page.ids):
                return
            cursor = page.next_cursor
