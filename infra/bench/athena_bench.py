"""Benchmark Athena's API on the embedded cloud over the 3M-event lake, as an analyst uses it.

    .venv/bin/python infra/bench/athena_bench.py              # 3,000,000 events
    .venv/bin/python infra/bench/athena_bench.py --events 300000

Starts a fresh stack (ports 4770-4777), ingests the events, then times through PyAthena
(submit, poll every 20 ms, fetch: what a user waits for) a count, a group-by and a
lake-PostgreSQL join, five runs each; then ``UNLOAD`` of every event id as text (gzip) and as
Parquet, and ``tributary query --out`` of the same ids to a local file. Targets: small queries
under 1 s end to end; the 3M-id export under 15 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

from common import ROOT, fresh_stack, percentile

QUERIES = [
    ("count", "SELECT count(*) FROM events"),
    ("group-by", "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY n DESC"),
    ("join", "SELECT s.country, count(*) AS n FROM events e JOIN pg.public.sessions s "
             "ON s.id = e.session_id GROUP BY 1 ORDER BY 2 DESC LIMIT 10"),
]


def _timed_queries(settings: Any) -> None:
    from pyathena import connect

    cursor = connect(s3_staging_dir="s3://tributary-query-results/bench/",
                     region_name=settings.region, poll_interval=0.02).cursor()
    cursor.execute("SELECT 1").fetchall()  # the engine starts on the first query
    for name, sql in QUERIES:
        times, engine = [], []
        for _ in range(5):
            t = time.perf_counter()
            rows = cursor.execute(sql).fetchall()
            times.append(time.perf_counter() - t)
            engine.append(cursor.engine_execution_time_in_millis or 0)
        print(f"{name:9} end to end s: min {min(times):.3f} median "
              f"{percentile(times, 50):.3f} max {max(times):.3f}; engine ms median "
              f"{percentile(engine, 50):.0f}; {len(rows)} rows, first {rows[0]}")


def _unload(settings: Any, rows: int) -> None:
    import boto3

    athena = boto3.client("athena")
    s3 = boto3.client("s3")
    for fmt in ("TEXTFILE", "PARQUET"):
        to = f"s3://tributary-query-results/bench-unload-{fmt.lower()}-{time.time_ns()}/"
        t = time.perf_counter()
        qid = athena.start_query_execution(
            QueryString=f"UNLOAD (SELECT id FROM events) TO '{to}' WITH (format = '{fmt}')",
            WorkGroup="primary")["QueryExecutionId"]
        while True:
            ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.02)
        took = time.perf_counter() - t
        assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
        bucket, prefix = to.removeprefix("s3://").split("/", 1)
        size = sum(o["Size"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
                   .get("Contents", []))
        print(f"UNLOAD {fmt:8} {rows:,} ids in {took:.1f} s ({rows / took:,.0f} ids/s), "
              f"{size / 1e6:.1f} MB written ({size / 1e6 / took:.1f} MB/s; "
              f"{rows * 37 / 1e6 / took:.1f} MB/s of ids as text)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3_000_000)
    args = parser.parse_args()
    settings, stack = fresh_stack(4770, "athena", {
        "TRIBUTARY_DATASYNC_EVENTS": str(args.events),
        "TRIBUTARY_DATASYNC_SESSIONS": str(max(100, args.events // 50))},
        polling=frozenset({"datasync"}))
    os.environ.update({"AWS_ENDPOINT_URL": settings.emulator_url, "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": settings.region})
    from localcloud import ingest as job

    try:
        t = time.perf_counter()
        job.trigger_fetch(settings, "datasync")
        job.wait(settings, lambda prog: None, timeout_s=1800, sources={"datasync"})
        print(f"== ingested {args.events:,} events in {time.perf_counter() - t:.0f} s")
        _timed_queries(settings)
        _unload(settings, args.events)
        out = ROOT / ".bench-ids.txt"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "localcloud.cli", "query", "SELECT id FROM events",
                        "--out", str(out), "--format", "lines"], check=True)
        took = time.perf_counter() - t
        print(f"query --out lines: {args.events:,} ids in {took:.1f} s (the command, start "
              f"to end), {out.stat().st_size / 1e6:.1f} MB")
        out.unlink()
    finally:
        stack.down()


if __name__ == "__main__":
    main()
