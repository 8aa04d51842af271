"""Benchmark SQL over the 3M-event lake (DuckDB) against the same queries in PostgreSQL.

    .venv/bin/python infra/bench/query_bench.py

Starts a fresh stack (ports 4720-4725), ingests the default 3,000,000 events, then times a
count by type per day, a one-day filter and an events-sessions join: each in DuckDB over the
lake and in PostgreSQL, best of three warm runs, with the ratio; then compacts the events
and sessions tables (Delta OPTIMIZE) and times the same queries again.
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import fresh_stack

QUERIES = [
    ("count by type per day",
     "SELECT dt, type, count(*) FROM events GROUP BY dt, type ORDER BY dt, type",
     "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS dt, type, count(*) FROM events "
     "GROUP BY 1, 2 ORDER BY 1, 2"),
    ("one-day filter",
     "SELECT count(*), count(DISTINCT user_id) FROM events WHERE dt = '2026-10-15'",
     "SELECT count(*), count(DISTINCT user_id) FROM events WHERE occurred_at >= "
     "'2026-10-15T00:00:00Z' AND occurred_at < '2026-10-16T00:00:00Z'"),
    ("events-sessions join",
     "SELECT s.country, count(*) FROM events e JOIN sessions s ON s.id = e.session_id "
     "GROUP BY 1 ORDER BY 1",
     "SELECT s.country, count(*) FROM events e JOIN sessions s ON s.id = e.session_id "
     "GROUP BY 1 ORDER BY 1"),
]


def best_of(n: int, run: object) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = run()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3_000_000)
    args = parser.parse_args()
    settings, stack = fresh_stack(4720, "query", {
        "TRIBUTARY_DATASYNC_EVENTS": str(args.events),
        "TRIBUTARY_DATASYNC_SESSIONS": str(max(100, args.events // 50))},
        polling=frozenset({"datasync"}))
    from localcloud import ingest as job
    from localcloud.config import emulator_client
    from tributary.query.engine import Engine

    try:
        t = time.perf_counter()
        job.trigger_fetch(settings, "datasync")
        job.wait(settings, lambda prog: None, timeout_s=1800, sources={"datasync"})
        rows = sum(v.postgres_rows for v in job.verify(settings, {"datasync"}))
        print(f"== ingested {rows:,} rows in {time.perf_counter() - t:.0f} s")
        from tributary.load.compact import compact
        from tributary.load.lake import Lake

        lake = Lake(settings.lake_bucket, settings.region, settings.emulator_url)
        with psycopg.connect(settings.pg_dsn.get_secret_value()) as pg:
            pg.execute("ANALYZE events; ANALYZE sessions")
            pg.commit()
            for stage in ("as ingested", "after compaction"):
                if stage == "after compaction":
                    for table in ("events", "sessions"):
                        t = time.perf_counter()
                        done = compact(lake, table)
                        print(f"== compact {table}: {done.files_before} files -> "
                              f"{done.files_after} in {time.perf_counter() - t:.1f} s, "
                              f"{done.rows_after:,} rows before and after")
                files = {t: len(lake.open(t).file_uris())  # type: ignore[union-attr]
                         for t in ("events", "sessions")}
                engine = Engine(settings, emulator_client("s3", settings),
                                settings.emulator_url)
                print(f"== {stage}: events {files['events']} files, sessions "
                      f"{files['sessions']} files")
                print(f"{'query':24s} {'lake (DuckDB)':>14s} {'PostgreSQL':>12s} "
                      f"{'ratio':>8s}")
                for name, lake_sql, pg_sql in QUERIES:
                    lake_s, lake_rows = best_of(3, lambda q=lake_sql, e=engine: e.run(q).rows)
                    pg_s, pg_rows = best_of(3, lambda q=pg_sql: pg.execute(q).fetchall())
                    same = [tuple(map(str, r)) for r in lake_rows] == [  # type: ignore[union-attr]
                        tuple(map(str, r)) for r in pg_rows]  # type: ignore[union-attr]
                    print(f"{name:24s} {lake_s * 1000:11.0f} ms {pg_s * 1000:9.0f} ms "
                          f"{pg_s / lake_s:7.1f}x  {'same rows' if same else 'ROWS DIFFER'}")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
