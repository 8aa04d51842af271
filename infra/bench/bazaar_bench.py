"""Benchmark the declared-source capabilities against the bazaar simulator: does a Link-header
listing, a child stream (one request per parent), a cursor-in-a-header listing, a GraphQL
POST listing, a cursor from the last record, an incremental export and an export job spend
the same rate budget as fully? And what does an exported row cost in CPU to read?

    .venv/bin/python infra/bench/bazaar_bench.py            # 600 users, 20 requests/s
    .venv/bin/python infra/bench/bazaar_bench.py --users 500 --budget 40

Starts a fresh stack (ports 4780-4788) with chaos off, ingests the bazaar source once, and
prints per stream: records, requests the simulator answered, the seconds from its first to
its last page, records/s, and requests/s against the endpoint's budget.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import psycopg
from common import fresh_stack

ENDPOINT = {"users": "users", "orders": "orders", "order_lines": "orders",
            "products": "products", "reviews": "reviews", "articles": "articles",
            "invoices": "graphql", "charges": "charges", "members": "members",
            "tickets": "tickets", "payments": "exports"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--budget", type=int, default=20, help="requests/s per endpoint")
    parser.add_argument("--payments", type=int, default=100_000, help="rows of the export")
    args = parser.parse_args()
    export_cpu(args.payments)
    settings, stack = fresh_stack(4780, "bazaar", {
        "TRIBUTARY_BAZAAR_USERS": str(args.users), "TRIBUTARY_BAZAAR_PRODUCTS": "5000",
        "TRIBUTARY_BAZAAR_REVIEWS": "5000", "TRIBUTARY_BAZAAR_ARTICLES": "2000",
        "TRIBUTARY_BAZAAR_REQUESTS_PER_S": str(args.budget), "TRIBUTARY_BAZAAR_RATE_429": "0",
        "TRIBUTARY_BAZAAR_RATE_5XX": "0", "TRIBUTARY_BAZAAR_REVOKE_RATE": "0",
        "TRIBUTARY_BAZAAR_INVOICES": "5000", "TRIBUTARY_BAZAAR_CHARGES": "5000",
        "TRIBUTARY_BAZAAR_TICKETS": "5000", "TRIBUTARY_BAZAAR_PAYMENTS": str(args.payments),
        "TRIBUTARY_BAZAAR_GRAPHQL_ERROR_RATE": "0", "TRIBUTARY_BAZAAR_EXPORT_JOB_S": "2",
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


def export_cpu(rows: int) -> None:
    """CPU per exported row, in this process: the gzip CSV decoded, filtered, mapped and
    validated as the transform does (the fetch's part is one download)."""
    from simulators.bazaar import ledger
    from tributary.load.tables import from_stream
    from tributary.sources.decoders import decode
    from tributary.sources.loader import parse

    raw = ledger.payments_csv(ledger.payments(11, rows))
    text = (Path(__file__).resolve().parents[2] / "sources" / "bazaar.yaml").read_text()
    table = from_stream(parse(text, "bazaar.yaml").stream("payments"))
    cpu = time.process_time()
    records = decode(raw, table.decoder)
    kept = [table.reshaped(r) for r in records if table.loads(r)]
    norm = table.normalize(kept)
    cpu = time.process_time() - cpu
    print(f"== export: {rows:,} rows ({len(raw) / 1e6:.1f} MB gzip CSV), {len(kept):,} kept, "
          f"{len(norm.rejects)} rejected: {cpu:.2f} CPU s, {cpu / rows * 1e6:.1f} µs per row "
          "(decode, filter, map, validate)")


if __name__ == "__main__":
    main()
