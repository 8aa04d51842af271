"""The fetch function's work: plan, lease partitions, land pages, checkpoint after each.

A page lands unchanged (gzip) in the raw zone, then one SQS message names it, then the
partition's checkpoint moves past it. A crash anywhere repeats at most that one page, at the
same raw key; the transform's upserts absorb the repeat.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson

from tributary.clients import aws_client
from tributary.extract.checkpoints import Checkpoints, LeaseLost, Partition
from tributary.extract.datasync import STREAMS, DatasyncSource, Page
from tributary.log import get_logger
from tributary.settings import Settings, get_datasync_settings, get_settings

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
        self.source = DatasyncSource(get_datasync_settings())
        self.s3 = aws_client("s3")
        self.sqs = aws_client("sqs")
        self.pages = 0
        self.records = 0

    def run(self, streams: tuple[str, ...] = STREAMS) -> dict[str, Any]:
        started = time.monotonic()
        totals = {s: self.source.plan(self.store, s) for s in streams}
        todo = [p for s in streams for p in self.store.partitions(self.source.name, s)
                if p.status != "done"]
        with ThreadPoolExecutor(self.settings.fetch_parallelism) as pool:
            results = list(pool.map(self._partition, todo))
        left = sum(1 for s in streams for p in self.store.partitions(self.source.name, s)
                   if p.status != "done")
        return {"upstream_totals": totals, "partitions_worked": sum(results),
                "partitions_left": left, "pages": self.pages, "records": self.records,
                "seconds": round(time.monotonic() - started, 2),
                "http": self.source.client.stats.as_dict()}

    def _partition(self, p: Partition) -> int:
        if self.remaining_s() < self.settings.fetch_margin_s or not self.store.lease(p, self.owner):
            return 0
        run = datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
        try:
            for page in self.source.pages(p):
                # The high water is the top of the listing as this pass first saw it, even when
                # the pass is resumed by another fetcher from a checkpointed cursor.
                if p.kind == "cursor" and p.pass_top is None:
                    p.pass_top = page.first_id
                self._land(p, page, run)
                p.seq += 1
                p.records += page.records
                p.cursor = page.next_cursor
                p.last_ts = page.last_ts if page.last_ts is not None else p.last_ts
                finished = page.next_cursor is None or bool(
                    p.high_water and p.high_water in page.ids)
                if finished and p.pass_top:
                    p.high_water, p.pass_top = p.pass_top, None
                self.store.advance(p, self.owner, landed=p.seq, done=finished)
                if finished or self.remaining_s() < self.settings.fetch_margin_s:
                    break
        except LeaseLost as exc:
            log.warning("partition taken over", extra={"error": str(exc)})
        finally:
            self.store.release(p, self.owner)
        return 1

    def _land(self, p: Partition, page: Page, run: str) -> None:
        key = raw_key(p, p.seq, run)
        self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key,
                           Body=gzip.compress(page.body, compresslevel=1),
                           ContentType="application/json", ContentEncoding="gzip")
        self.sqs.send_message(QueueUrl=self.settings.transform_queue_url, MessageBody=orjson.dumps({
            "bucket": self.settings.raw_bucket, "key": key, "source": p.source,
            "stream": p.stream, "partition": p.name, "seq": p.seq, "records": page.records,
        }).decode())
        self.pages += 1
        self.records += page.records


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    streams = tuple(event.get("streams") or STREAMS)
    unknown = set(streams) - set(STREAMS)
    if unknown:
        raise ValueError(f"unknown streams {sorted(unknown)}; known: {list(STREAMS)}")
    fetcher = Fetcher(get_settings(), context.aws_request_id,
                      lambda: context.get_remaining_time_in_millis() / 1000)
    result = fetcher.run(streams)
    log.info("fetch finished", extra=result)
    return result
