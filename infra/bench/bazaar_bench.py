"""Benchmark the declared-source capabilities against the bazaar simulator: does a Link-header
listing, a child stream (one request per parent) and a cursor-in-a-header listing spend the
same rate budget as fully?

    .venv/bin/python infra/bench/bazaar_bench.py            # 600 users, 20 requests/s
    .venv/bin/python infra/bench/bazaar_bench.py --users 500 --budget 40

Starts a fresh stack (ports 4780-4788) with chaos off, ingests the bazaar source once, and
prints per stream: records, requests the simulator answered, the seconds from its first to
its last page, records/s, and requests/s against the endpoint's budget.
"""

from __future__ import annotations

import argparse
import time

import httpx
import psycopg
from common import fresh_stack

ENDPOINT = {"users": "users", "orders": "orders", "order_lines": "orders",
            "products": "products", "reviews": "reviews", "articles": "articles"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--budget", type=int, default=20, help="requests/s per endpoint")
    args = parser.parse_args()
    settings, stack = fresh_stack(4780, "bazaar", {
        "TRIBUTARY_BAZAAR_USERS": str(args.users), "TRIBUTARY_BAZAAR_PRODUCTS": "5000",
        "TRIBUTARY_BAZAAR_REVIEWS": "5000", "TRIBUTARY_BAZAAR_ARTICLES": "2000",
        "TRIBUTARY_BAZAAR_REQUESTS_PER_S": str(args.budget), "TRIBUTARY_BAZAAR_RATE_429": "0",
        "TRIBUTARY_BAZAAR_RATE_5XX": "0", "TRIBUTARY_BAZAAR_REVOKE_RATE": "0",
        "TRIBUTARY_DATASYNC_EVENTS": "1000"}, polling=frozenset({"bazaar"}))
    from localcloud import ingest as job

    sim = "http://127.0.0.1:4788"
    try:
        t = time.perf_counter()
        job.trigger_fetch(settings, "bazaar")
        job.wait(settings, lambda prog: None, timeout_s=1800, sources={"bazaar"})
        wall = time.perf_counter() - t
        stats = httpx.get(f"{sim}/stats", timeout=10).json()
        with psycopg.connect(settings.pg_dsn.get_secret_value()) as pg:
            rows = pg.execute(
                "SELECT stream, sum(records), min(fetched_at), max(fetched_at) FROM load_log "
                "WHERE source = 'bazaar' GROUP BY stream").fetchall()
        spans = {s: (n, (b - a) / 1000) for s, n, a, b in rows}
        # An endpoint's span runs from the first to the last page of any of its streams.
        ends: dict[str, tuple[int, int]] = {}
        for stream, _, first, last in rows:
            e = ENDPOINT[stream]
            a, b = ends.get(e, (first, last))
            ends[e] = (min(a, first), max(b, last))
        print(f"== bazaar: {args.users:,} users, budget {args.budget} requests/s per endpoint, "
              f"wall {wall:.1f} s (trigger -> settled); the simulator answered "
              f"{stats['rate_limited']} 429s")
        print(f"{'stream':12} {'records':>8} {'requests':>9} {'span s':>7} {'records/s':>10} "
              f"{'endpoint requests/s':>20} {'of budget':>10}")
        for stream, endpoint in ENDPOINT.items():
            records, span = spans.get(stream, (0, 0.0))
            # orders and order_lines share an endpoint, its requests and its budget
            requests = stats.get(f"requests_{endpoint}", 0)
            a, b = ends.get(endpoint, (0, 0))
            rate = requests / ((b - a) / 1000) if b > a else 0.0
            print(f"{stream:12} {int(records):>8,} {requests:>9,} {span:>7.1f} "
                  f"{(records / span if span else 0):>10,.0f} {rate:>20.1f} "
                  f"{rate / args.budget:>9.0%}")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
