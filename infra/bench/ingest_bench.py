"""Benchmark a full DataSync ingestion on a fresh embedded stack and print the figures.

    .venv/bin/python infra/bench/ingest_bench.py            # default: 3,000,000 events
    .venv/bin/python infra/bench/ingest_bench.py --tight    # 2 requests/s, no bulk feed

Prints wall time, end-to-end events/s, time to the first row in PostgreSQL, peak memory per
process, requests made against the rate-limit budget the simulator allowed (with 429s), and
the ceiling: PostgreSQL alone COPYing the same events into the indexed table (pg_ceiling.py).
Runs on ports 4670-4673 with a temporary state folder, so it can run beside a dev stack.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from typing import Any

import httpx
import pg_ceiling
import psutil
import psycopg
from common import ROOT, fresh_stack


def _role(proc: psutil.Process, workers: dict[int, str]) -> str:
    cmd = " ".join(proc.cmdline())
    if proc.pid in workers:
        return f"function {workers[proc.pid]}"
    if "spawn_main" in cmd or "resource_tracker" in cmd:
        return "runtime helper"
    for marker, role in (("localcloud.emulator", "emulator"), ("simulators.datasync", "datasync"),
                         ("simulators.hallow", "hallow"),
                         ("localcloud.runtime", "runtime"), ("postgres", "postgres")):
        if marker in cmd:
            return role
    return "other"


class MemorySampler(threading.Thread):
    def __init__(self, roots: list[int], runtime_url: str) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.runtime_url = runtime_url
        self.peak: dict[str, float] = defaultdict(float)  # per process of each role (max)
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds in the run)
        self.cpu0: dict[int, float] = {}  # CPU seconds a process had when first seen
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:  # which worker process runs which function
                stats = httpx.get(f"{self.runtime_url}/_runtime/stats", timeout=2).json()
                workers = {pid: fn for fn, s in stats["functions"].items()
                           for pid in s["worker_pids"]}
            except httpx.HTTPError:
                workers = {}
            for pid in self.roots:
                try:
                    root = psutil.Process(pid)
                    for p in [root, *root.children(recursive=True)]:
                        rss = p.memory_info().rss / 2**20
                        role = _role(p, workers)
                        self.peak[role] = max(self.peak[role], rss)
                        t = p.cpu_times()
                        used = self.cpu0.setdefault(p.pid, t.user + t.system)
                        self.cpu[p.pid] = (role, t.user + t.system - used)
                except psutil.Error:
                    continue
            self.stop.wait(0.25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--all", action="store_true",
                        help="every declared source, as `sh run-ingestion.sh` runs them (live "
                             "copy and webhook pushes included): where the main job's CPU goes")
    parser.add_argument("--tight", action="store_true",
                        help="2 requests per 1 s window per endpoint, bulk feed off")
    parser.add_argument("--from-build", action="store_true",
                        help="run the built artifacts (tributary build first): zip functions "
                             "in Python 3.13 alone, image functions in containers")
    parser.add_argument("--restart", action="store_true",
                        help="then time `stack up` over the full state: after `stack down`, "
                             "and after a SIGKILL of every daemon")
    args = parser.parse_args()
    events = args.events or (200_000 if args.tight else 3_000_000)
    env = {"TRIBUTARY_DATASYNC_EVENTS": str(events),
           "TRIBUTARY_DATASYNC_SESSIONS": str(max(100, events // 50))}
    if args.tight:
        env.update({"TRIBUTARY_DATASYNC_RATE_EVENTS": "2", "TRIBUTARY_DATASYNC_RATE_SESSIONS": "2",
                    "TRIBUTARY_DATASYNC_FEED_ENABLED": "false"})
    sources = None if args.all else {"datasync"}
    if args.all:  # the defaults, as run-ingestion.sh has them
        env.update({"TRIBUTARY_TIMELINE_ROWS": "100000", "TRIBUTARY_HALLOW_PUSH": "true"})
    t = time.perf_counter()
    settings, stack = fresh_stack(4670, "ingest", env, polling=frozenset(
        (p.stem for p in (ROOT / "sources").glob("*.yaml")) if args.all else {"datasync"}),
        from_build=args.from_build)
    startup = time.perf_counter() - t
    from localcloud import ingest as job
    sampler = MemorySampler([s.pid for s in stack.status() if s.pid], settings.runtime_url)
    sampler.start()
    first_row: list[float] = []

    def watch_first_row() -> None:
        with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
            while not first_row:
                if conn.execute("SELECT to_regclass('events')").fetchone() != (None,) and \
                        conn.execute("SELECT 1 FROM events LIMIT 1").fetchone():
                    first_row.append(time.perf_counter() - started)
                    return
                time.sleep(0.05)

    try:
        started = time.perf_counter()
        threading.Thread(target=watch_first_row, daemon=True).start()
        job.trigger_fetches(settings, sources)
        final = job.wait(settings, lambda prog: None, timeout_s=3600, sources=sources)
        wall = time.perf_counter() - started
        sampler.stop.set()
        verdicts = job.verify(settings, sources)
        health = httpx.get("http://127.0.0.1:4673/health").json()
        functions = httpx.get(f"{settings.runtime_url}/_runtime/stats").json()["functions"]
        emulator = httpx.get(f"{settings.emulator_url}/_tributary/health").json()
        ceiling = pg_ceiling.measure(settings.pg_dsn.get_secret_value(), "events")
        restarts = _restarts(settings, stack) if args.restart else []
    finally:
        stack.down()

    total = sum(s.transformed for s in final.streams.values())
    mode = (" (tight: 2 req/s, no feed)" if args.tight else "") + (
        " and every other source" if args.all else "") + (
        " from the built artifacts" if args.from_build else " from the checkout")
    print(f"== DataSync ingestion: {events:,} events{mode}")
    print(f"  stack up (cold, fresh state):   {startup:8.1f} s")
    print(f"  wall time (trigger -> settled): {wall:8.1f} s")
    print(f"  end to end:                     {total / wall:8,.0f} events/s "
          f"({total:,} records loaded)")
    print(f"  time to first row in PostgreSQL:{first_row[0] if first_row else float('nan'):8.2f} s")
    for v in verdicts:
        print(f"  {v.stream:9s} upstream {v.upstream_total:>9,}  postgres {v.postgres_rows:>9,}  "
              f"lake {v.lake_rows:>9,}  duplicates {v.lake_duplicates}  rejects {v.rejected_ids}"
              f"  missing {v.missing}  {'OK' if v.ok else 'FAILED'}")
    print("== peak memory (RSS, MB, largest process of each kind)")
    for role, mb in sorted(sampler.peak.items()):
        print(f"  {role:28s} {mb:8.1f}")
    print("== where the CPU went (seconds, all processes of each kind; 2 cores)")
    by_role: dict[str, float] = defaultdict(float)
    for role, seconds in sampler.cpu.values():
        by_role[role] += seconds
    busy = sum(by_role.values())
    for role, seconds in sorted(by_role.items(), key=lambda kv: -kv[1]):
        print(f"  {role:28s} {seconds:7.1f}  {seconds / busy:6.1%}")
    print(f"  {'total':28s} {busy:7.1f}  (of {2 * wall:.0f} available in the wall time)")
    durable = emulator.get("durable") or {"writes": 0, "commits": 0, "mean_wait_ms": 0.0}
    print(f"== the emulator: {durable['writes']:,} durable writes in {durable['commits']:,} "
          f"group commits, {durable['mean_wait_ms']:.2f} ms mean wait; writes by call:")
    for call, n in sorted(emulator["calls"].items(), key=lambda kv: -kv[1]):
        service, op = (call.split(" ") + [""])[:2]
        if op in ("PUT", "POST", "DELETE") if service == "s3" else \
                not op.startswith(("Get", "Describe", "Receive", "List", "Scan", "Query")):
            print(f"  {call:40s} {n:7,}")
    print(f"== this machine's ceiling: PostgreSQL alone COPYing the same {ceiling.rows:,} events "
          "into an empty copy of the table (its keys and indexes), 10,000 a transaction")
    print(f"  {ceiling.rows_per_s:,.0f} rows/s, {ceiling.cpu_us_per_row:.1f} us of CPU per row; "
          f"the pipeline ran at {total / wall / ceiling.rows_per_s:.0%} of it end to end")
    cpu = emulator.get("cpu_s", {})
    print(f"== the emulator's CPU in moto by call: {sum(cpu.values()):.1f} s; the largest:")
    for call, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])[:8]:
        n = emulator["calls"].get(call, 0)
        print(f"  {call:40s} {seconds:6.2f} s  {n:7,} calls  {1000 * seconds / max(1, n):6.2f} ms")
    print("== requests against the rate-limit budget")
    print(f"  requests {health['requests']}, allowed {health['allowed']}, "
          f"429s {health['rate_limited']} "
          f"({health['rate_limited'] / max(1, health['requests']):.2%} of requests)")
    for endpoint, b in sorted(health["by_endpoint"].items()):
        print(f"  {endpoint:9s} allowed {int(b['allowed']):5d} of a budget of {int(b['budget']):5d}"
              f" over {int(b['windows'])} windows = {b['budget_used']:.1%} used; "
              f"429s {int(b['rejected'])}")
    print("== cold starts (init: environment started -> handler loaded), ms")
    for name, f in sorted(functions.items()):
        if f.get("init_ms_p50") is not None:
            print(f"  {name:28s} p50 {f['init_ms_p50']:8.0f}  max {f['init_ms_max']:8.0f}  "
                  f"({f['cold_starts']} cold starts)")

    for label, seconds, restored, same in restarts:
        print(f"== stack up over the full state, {label}: {seconds:.1f} s "
              f"(emulator restored {restored['objects']:,} objects, "
              f"{restored['journal_calls']:,} journaled calls, {restored['messages']} messages "
              f"in {restored['seconds']:.2f} s); state after: {'the same' if same else 'DIFFERS'}")


def _fingerprint(settings: Any) -> tuple[Any, ...]:
    """Objects (key and ETag), checkpoint items and lake rows: what a restart must keep."""
    from localcloud.config import emulator_client
    from localcloud.ingest import lake_ids

    s3 = emulator_client("s3", settings)
    objects = sorted((o["Key"], o["ETag"]) for b in (settings.raw_bucket, settings.lake_bucket)
                     for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b)
                     for o in page.get("Contents", []))
    ddb = emulator_client("dynamodb", settings)
    items = sorted(str(i) for page in ddb.get_paginator("scan").paginate(
        TableName=settings.checkpoints_table) for i in page["Items"])
    return objects, items, lake_ids(settings, "events")


def _restarts(settings: Any, stack: Any) -> list[tuple[str, float, dict[str, Any], bool]]:
    from localcloud.config import emulator_client, load_stack
    from localcloud.deploy import Deployer

    emulator_client("events", settings).disable_rule(Name="tributary-fetch-datasync")
    time.sleep(2)  # a pass under way stops within a page
    before = _fingerprint(settings)
    out = []
    for label in ("after stack down", "after SIGKILL of every daemon"):
        if label.startswith("after stack down"):
            stack.down()
        else:
            procs = [psutil.Process(s.pid) for s in stack.status() if s.pid]
            procs += [c for p in procs for c in p.children(recursive=True)]
            for p in procs:
                p.kill()
            psutil.wait_procs(procs, timeout=10)
        t = time.perf_counter()
        stack.up(lambda: Deployer(load_stack(settings), settings).run())  # as `stack up` does
        took = time.perf_counter() - t
        restored = httpx.get(f"{settings.emulator_url}/_tributary/health").json()["restored"]
        out.append((label, took, restored, _fingerprint(settings) == before))
    return out


if __name__ == "__main__":
    main()
