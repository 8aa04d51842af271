"""Benchmark the webhook on a fresh embedded stack and print the figures.

    .venv/bin/python infra/bench/webhook_bench.py [--seconds 30] [--concurrency 8]

Pushes Hallow-style batches (10 events, 3% repeats, signed) as fast as the webhook answers
for the given time, then waits for the scheduled flush (every minute) and checks the lake:
sustained accepted events/s, request latency p50/p99, files written per minute, and that no
acknowledged event was lost or duplicated. Ports 4690-4695, temporary state folder.
"""

from __future__ import annotations

import argparse
import threading
import time

import psycopg
from common import fresh_stack, percentile

SECRET = "bench-secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    settings, stack = fresh_stack(4690, "webhook", {"TRIBUTARY_DATASYNC_EVENTS": "1000",
                                                    "TRIBUTARY_WEBHOOK_SIGNING_SECRET": SECRET})
    from localcloud.config import emulator_client
    from simulators.hallow.push import Pusher
    from simulators.settings import HallowSettings
    url = f"{settings.runtime_url}/webhook/events"
    pusher = Pusher(HallowSettings(), url, SECRET)
    try:
        pusher.burst(200, concurrency=2)  # warm the workers and connections
        pusher.counts.latencies_ms.clear()
        warm = pusher.counts.accepted
        stop = time.perf_counter() + args.seconds

        def worker() -> None:
            while time.perf_counter() < stop:
                pusher.send(pusher.batch(10))

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pushed_s = time.perf_counter() - started
        c = pusher.counts
        accepted = c.accepted - warm
        with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
            while conn.execute("SELECT (SELECT count(*) FROM webhook_inbox WHERE batch_id IS "
                               "NULL) + (SELECT count(*) FROM webhook_batches WHERE flushed_at "
                               "IS NULL)").fetchone() != (0,):
                conn.commit()
                time.sleep(1)
            flushed_s = time.perf_counter() - started
            files = conn.execute("SELECT coalesce(sum(cardinality(lake_keys)), 0), count(*) "
                                 "FROM webhook_batches").fetchone()
        import pyarrow.compute as pc
        import pyarrow.dataset as ds
        from pyarrow import fs
        s3fs = fs.S3FileSystem(endpoint_override=settings.emulator_url, access_key="test",
                               secret_key="test", region="us-east-1", scheme="http")
        ids = ds.dataset("tributary-lake/webhook_events", filesystem=s3fs, format="parquet",
                         partitioning="hive").to_table(columns=["event_id"])["event_id"]
        distinct = pc.count_distinct(ids).as_py()
        objects = sum(1 for _ in emulator_client("s3", settings).list_objects_v2(
            Bucket="tributary-lake", Prefix="webhook_events/").get("Contents", []))
    finally:
        stack.down()
    lat = c.latencies_ms
    print(f"== webhook: {args.concurrency} senders, batches of 10 signed events, "
          f"{args.seconds:.0f} s")
    print(f"  requests {len(lat)}, failed {c.failed_requests}")
    print(f"  sustained: {accepted / pushed_s:,.0f} accepted events/s "
          f"({(c.unique + c.repeats) / pushed_s:,.0f} sent/s incl. repeats and signups)")
    print(f"  latency: p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
          f"max {max(lat):.1f} ms")
    print(f"  flushed {files[1] if files else 0} batches into {objects} files; all flushed "
          f"{flushed_s:.0f} s after the start: {objects / (flushed_s / 60):.1f} files/min")
    print(f"  lake rows {len(ids)}, distinct {distinct}, expected {c.expected_rows}: "
          f"lost {c.expected_rows - distinct}, duplicated {len(ids) - distinct}")


if __name__ == "__main__":
    main()
