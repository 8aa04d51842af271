"""How `stack up` after `stack down` grows with use: the emulator's restore after 1 and after
10 days of use (each: an ingestion, `stack down`, `stack up`), with what it restored.

    .venv/bin/python infra/bench/restore_bench.py [--events 20000] [--runs 10]

Runs its own stack (ports 5200-5209, a temporary state folder, removed at exit).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
from common import fresh_stack


def _cycle(settings: Any, stack: Any) -> tuple[float, dict[str, Any]]:
    """`stack down`, then `stack up` as a user runs it (it deploys again); its time and what
    the emulator restored."""
    from localcloud.config import load_stack
    from localcloud.deploy import Deployer

    stack.down()
    began = time.perf_counter()
    stack.up(lambda: Deployer(load_stack(settings), settings).run())
    took = time.perf_counter() - began
    health = httpx.get(f"{settings.emulator_url}/_tributary/health", timeout=10).json()
    return took, health["restored"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    settings, stack = fresh_stack(5200, "restore", {
        "TRIBUTARY_DATASYNC_EVENTS": str(args.events), "TRIBUTARY_DATASYNC_SESSIONS": "2000",
        "TRIBUTARY_DATASYNC_PARTITION_EVENTS": str(max(1000, args.events // 10))},
        polling=frozenset({"datasync"}))
    from localcloud import ingest as job

    print(f"== stack up after stack down, by ingestions of {args.events:,} events")
    print(f"  {'ingestions':>10} {'stack up s':>10} {'restore s':>9} {'objects':>8} "
          f"{'journal calls':>13} {'messages':>8} {'orphans':>7}")
    try:
        for run in range(1, args.runs + 1):
            job.trigger_fetch(settings, "datasync")
            job.wait(settings, lambda prog: None, timeout_s=600, sources={"datasync"})
            took, r = _cycle(settings, stack)  # a user's day: up, ingest, down
            if run in (1, 2, args.runs // 2, args.runs):
                print(f"  {run:>10} {took:>10.1f} {r['seconds']:>9.2f} {r['objects']:>8,} "
                      f"{r['journal_calls']:>13,} {r['messages']:>8} {r['orphans']:>7}",
                      flush=True)
    finally:
        stack.down()


if __name__ == "__main__":
    main()
