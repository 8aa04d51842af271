"""Fetching one declared stream: planning its partitions and walking its pages.

``StreamFetcher`` is the interface the fetch function drives; ``DeclaredStream`` implements
it for any stream from its declaration alone. A stream whose API needs more (DataSync's bulk
feed) names a subclass in its declaration's ``fetcher`` hook.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tributary.extract.auth import auth_for
from tributary.extract.checkpoints import Checkpoints, Partition
from tributary.extract.http import ApiError, CursorExpired, RateLimitedClient
from tributary.extract.paginators import NO_HEADERS, dig, paginator_for
from tributary.gcpause import paused_gc
from tributary.log import get_logger
from tributary.sources.spec import CursorPagination, Source, Stream

log = get_logger("extract.stream")


@dataclass(frozen=True)
class Page:
    body: bytes  # exactly what the API sent
    records: int
    position: str | None  # where this page was asked for
    next_position: str | None  # None: the pass ends with this page
    last_ts: int | None = None  # time-range feeds resume from here
    first_id: str | None = None
    ids: frozenset[str] = frozenset()  # newest-first listings stop at a known id
    etag: str | None = None
    not_modified: bool = False  # a 304: nothing to land
    total: int | None = None  # the upstream's count, when the page says


class StreamFetcher(Protocol):
    source: Source
    stream: Stream

    @property
    def incremental(self) -> str: ...

    def plan(self, store: Checkpoints, force: bool) -> None: ...

    def pages(self, p: Partition) -> Iterator[Page]: ...


class DeclaredStream:
    def __init__(self, source: Source, stream: Stream, client: RateLimitedClient) -> None:
        self.source = source
        self.stream = stream
        self.client = client
        self.paginator = paginator_for(stream.pagination)

    @property
    def incremental(self) -> str:
        spec = self.stream.pagination
        return spec.incremental if isinstance(spec, CursorPagination) else "full"

    def plan(self, store: Checkpoints, force: bool) -> None:
        """A first partition, or the next pass of a finished one once it is due."""
        parts = store.partitions(self.source.name, self.stream.name)
        if not parts:
            store.add(Partition(self.source.name, self.stream.name, "all",
                                self.stream.pagination.style))
            return
        due = time.time() - self.source.interval(self.stream)
        for p in parts:
            if p.status == "done" and (force or p.finished_at <= due):
                store.reopen(p, keep_cursor=self.incremental == "resume")

    def pages(self, p: Partition) -> Iterator[Page]:
        position = p.cursor
        while True:
            headers = ({"If-None-Match": p.etag} if self.paginator.conditional and p.etag
                       else None)
            path, params = self.paginator.target(self.stream.endpoint, self.stream.params,
                                                 position)
            try:
                resp = self.client.request("GET", self.client.same_origin(path),
                                           self.stream.name, headers=headers, params=params)
            except CursorExpired:
                # A listing cannot resume from a position: start again from the top; pages
                # already landed are absorbed by the upserts.
                log.info("cursor expired; restarting listing", extra={"stream": p.stream})
                position = None
                continue
            if resp.status_code == 304:
                yield Page(b"", 0, position, None, etag=p.etag, not_modified=True)
                return
            page = self.page(resp.content, position, resp.headers.get("etag"), resp.headers)
            yield page
            if page.next_position is None or (p.high_water and p.high_water in page.ids):
                return
            position = page.next_position

    def page(self, raw: bytes, position: str | None, etag: str | None,
             headers: Mapping[str, str] = NO_HEADERS) -> Page:
        with paused_gc():
            body = orjson.loads(raw)
        records = dig(body, self.stream.records_path)
        if not isinstance(records, list):
            raise ApiError(200, "NO_RECORDS", f"{self.source.name}/{self.stream.name}: no "
                           f"record list at {self.stream.records_path!r}")
        key = self.stream.primary_key
        ids = frozenset(str(r.get(key)) for r in records if isinstance(r, dict)) \
            if self.incremental == "high_water" else frozenset()
        first = records[0].get(key) if records and isinstance(records[0], dict) else None
        total = dig(body, self.stream.total_path) if self.stream.total_path else None
        if total is None and self.stream.pagination.one_response:
            total = len(records)
        return Page(raw, len(records), position,
                    self.paginator.next_position(body, position, len(records), headers),
                    first_id=None if first is None else str(first), ids=ids, etag=etag,
                    total=None if total is None else int(total))


def client_for(source: Source) -> RateLimitedClient:
    client = RateLimitedClient(source.base_url, {}, source.timeout_s,
                               auth=auth_for(source.auth, source.base_url))
    for s in source.streams:
        limit = s.rate_limit or source.rate_limit
        if limit:
            client.pacer(s.name).declare(limit.requests, limit.per_s)
    return client


def fetcher_for(source: Source, stream: Stream, client: RateLimitedClient) -> StreamFetcher:
    if stream.fetcher is None:
        return DeclaredStream(source, stream, client)
    import importlib

    module, _, name = stream.fetcher.partition(":")
    cls: Any = getattr(importlib.import_module(module), name)
    fetcher: StreamFetcher = cls(source, stream, client)
    return fetcher
