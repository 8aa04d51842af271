"""What change detection saves on the snapshot sources, over a run of polling.

    .venv/bin/python infra/bench/snapshots_bench.py [--seconds 300]

A fresh stack polls the three snapshot endpoints (periods 5, 7.5 and 8 s) at their declared
interval (2 s) for the given time, as the schedule's polling loop does. Printed per stream:
requests made, 304s, versions landed, rows received in those versions, rows written to
PostgreSQL (content hash differs), history entries, and what polling without change
detection would have written (every row of every response). Ports 4740-4745.
"""

from __future__ import annotations

import argparse
import time

import httpx
import orjson
import psycopg
from common import fresh_stack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    settings, stack = fresh_stack(4740, "snapshots", {"TRIBUTARY_DATASYNC_EVENTS": "1000"},
                                  polling=frozenset({"snapshots"}))
    from localcloud.config import emulator_client

    try:
        lam = emulator_client("lambda", settings)
        started = time.perf_counter()
        lam.invoke(FunctionName="tributary-fetch", InvocationType="Event",
                   Payload=orjson.dumps({"source": "snapshots", "poll_s": args.seconds}))
        time.sleep(args.seconds + 10)  # the loop's last round, then its transforms
        stats = httpx.get("http://127.0.0.1:4745/stats").json()
        with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
            loaded = {s: (n, recs, changed) for s, n, recs, changed in conn.execute(
                "SELECT stream, count(*), sum(records), sum(changed) FROM load_log "
                "WHERE source = 'snapshots' GROUP BY stream")}
            history = {s: conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE change = 'vanished') "  # noqa: S608
                f"FROM snap_{s}_history").fetchone() for s in loaded}
        wall = time.perf_counter() - started
    finally:
        stack.down()

    print(f"== snapshots: polled every 2 s for {args.seconds:.0f} s ({wall:.0f} s with the "
          "last loads)")
    print(f"  {'stream':9} {'requests':>8} {'304s':>6} {'versions':>8} {'rows recv':>9} "
          f"{'rows written':>12} {'history':>8} {'naive writes':>12}")
    totals = [0] * 7
    for stream in ("products", "prices", "stores"):
        calls = stats[stream]
        versions, received, written = loaded.get(stream, (0, 0, 0))
        hist, vanished = history.get(stream, (0, 0)) or (0, 0)
        per_version = received / versions if versions else 0
        naive = round(per_version * calls["requests"])
        # Written: rows inserted or updated (content differs) plus rows deleted (vanished).
        row = [calls["requests"], calls["not_modified"], versions, received,
               written + vanished, hist, naive]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(f"  {stream:9} {row[0]:8,} {row[1]:6,} {row[2]:8,} {row[3]:9,} {row[4]:12,} "
              f"{row[5]:8,} {row[6]:12,}")
    print(f"  {'total':9} {totals[0]:8,} {totals[1]:6,} {totals[2]:8,} {totals[3]:9,} "
          f"{totals[4]:12,} {totals[5]:8,} {totals[6]:12,}")
    saved = totals[6] - totals[4]
    print(f"  change detection wrote {totals[4]:,} rows where re-loading every response would "
          f"have written {totals[6]:,}: {saved:,} writes saved "
          f"({100 * saved / max(1, totals[6]):.1f}%); {totals[1]:,} of {totals[0]:,} requests "
          "were 304s and cost nothing downstream")


if __name__ == "__main__":
    main()
