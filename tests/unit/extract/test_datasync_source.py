"""The DataSync source's pages survive expired cursors and stream tokens, and cover everything."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson

from simulators.datasync.data import Dataset
from simulators.settings import DatasyncServerSettings
from tests.unit.extract.conftest import RunningSimulator
from tributary.extract.checkpoints import Partition
from tributary.extract.datasync import BulkFeed, _page
from tributary.extract.stream import DeclaredStream, StreamFetcher, client_for
from tributary.sources.loader import load_dir

SOURCES = Path(__file__).resolve().parents[3] / "sources"


def _events(cfg: DatasyncServerSettings) -> BulkFeed:
    """The declared DataSync events stream with its bulk-feed hook, against ``cfg.url``."""
    src = load_dir(SOURCES)["datasync"].model_copy(update={"base_url": cfg.url})
    return BulkFeed(src, src.stream("events"), client_for(src), cfg)


def _sessions(cfg: DatasyncServerSettings, page_size: int) -> DeclaredStream:
    src = load_dir(SOURCES)["datasync"].model_copy(update={"base_url": cfg.url})
    stream = src.stream("sessions")
    stream = stream.model_copy(update={"pagination": stream.pagination.model_copy(
        update={"limit": page_size})})
    return DeclaredStream(src, stream, client_for(src))


def _ids(source: StreamFetcher, p: Partition, pause_s: float = 0.0) -> list[str]:
    ids: list[str] = []
    for page in source.pages(p):
        ids.extend(r["id"] for r in orjson.loads(page.body)["data"])
        p.cursor, p.last_ts = page.next_position, page.last_ts  # as the fetcher checkpoints
        time.sleep(pause_s)
    return ids


def test_feed_resumes_after_the_cursor_expires(simulator: Callable[..., RunningSimulator]
                                               ) -> None:
    sim = simulator(cursor_ttl_s=0.2, feed_page_size=400, rate_feed=1000)
    source = _events(sim.cfg.model_copy(update={"feed_page_size": 400}))
    data = Dataset(sim.cfg)
    p = Partition("datasync", "events", "all", "feed", since=0, until=2**62)
    ids = _ids(source, p, pause_s=0.3)  # every cursor is stale by the time it is used
    expected = {data.event(i)["id"] for i in range(data.n)}
    assert set(ids) == expected
    assert len(ids) - len(expected) <= len(ids) // 400  # at most about one event per page again


def test_stream_token_is_renewed_when_it_expires(simulator: Callable[..., RunningSimulator]
                                                 ) -> None:
    sim = simulator(token_ttl_s=0.3, rate_feed=1000)
    source = _events(sim.cfg.model_copy(update={"feed_page_size": 500}))
    first = source.stream_token()
    source._token_until = time.time() + 100  # noqa: SLF001 - pretend we think it still valid
    time.sleep(0.4)  # ...but the server has expired it
    p = Partition("datasync", "events", "all", "feed", since=0, until=2**62)
    assert len(set(_ids(source, p))) == 3000
    assert source.stream_token() != first


def test_cursor_listing_restarts_after_expiry_and_stops_at_high_water(
        simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator(cursor_ttl_s=0.2, rate_sessions=1000, sessions=60)
    source = _sessions(sim.cfg, page_size=25)
    p = Partition("datasync", "sessions", "all", "cursor")
    pages = list(source.pages(p))
    assert sum(pg.records for pg in pages) == 60
    p2 = Partition("datasync", "sessions", "all", "cursor", high_water=pages[0].first_id)
    assert len(list(source.pages(p2))) == 1  # nothing new upstream: one page and done


def test_a_feed_page_is_read_in_any_key_order_without_its_records() -> None:
    raw = orjson.dumps({"pagination": {"hasMore": True, "nextCursor": "c2"}, "meta": {},
                        "data": [{"timestamp": 1_700_000_000}, {"id": "x", "timestamp":
                                                                "2026-10-01T00:00:00.864Z"}]})
    page = _page(raw, "c1")
    assert (page.body, page.records, page.position, page.next_position, page.last_ts) == (
        raw, 2, "c1", "c2", 1_790_812_800_864)
    last = _page(orjson.dumps({"data": [{"timestamp": 1_700_000_000_000}],
                               "pagination": {"hasMore": False, "nextCursor": "c3"}}), "c2")
    assert (last.records, last.next_position, last.last_ts) == (1, None, 1_700_000_000_000)
    empty = _page(b'{"data": []}', None)
    assert (empty.records, empty.next_position, empty.last_ts) == (0, None, None)
