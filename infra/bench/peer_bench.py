"""Tributary beside dlt, on the same DataSync simulator in one run, and how each handles a
page holding one unreadable timestamp.

    .venv/bin/python infra/bench/peer_bench.py               # 500,000 events
    .venv/bin/python infra/bench/peer_bench.py --events 100000

dlt (pinned below) is installed into a virtual environment of its own under ``.bench/`` on
first use, and runs ``peer/dlt_run.py`` there: its ``rest_api`` source with the cursor
paginator, merging on ``id`` into the same PostgreSQL. Tributary runs as a user runs it
(``ingest`` of the datasync source: the bulk feed and sessions). Ports 4700-4716.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, fresh_stack

DLT = "dlt[postgres]==1.31.0"
VENV = ROOT / ".bench" / "dlt-1.31.0"
RUNNER = Path(__file__).with_name("peer") / "dlt_run.py"


def dlt_python() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        print(f"installing {DLT} into {VENV} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        out = subprocess.run([str(python), "-m", "pip", "install", "-q", DLT],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"installing {DLT} failed:\n{out.stderr[-3000:]}")
        (VENV / ".installed").touch()
    return python


def run_dlt(settings: Any, dataset: str, typed: bool = False) -> dict[str, Any]:
    args = [str(dlt_python()), str(RUNNER), os.environ["TRIBUTARY_DATASYNC_URL"],
            os.environ.get("TRIBUTARY_DATASYNC_API_KEY", "ds-local-key"),
            settings.pg_dsn.get_secret_value(), dataset, *(["--typed"] if typed else [])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"dlt runner failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_tributary(settings: Any) -> tuple[float, Any]:
    from localcloud import ingest as job

    started = time.perf_counter()
    job.trigger_fetch(settings, "datasync")
    job.wait(settings, lambda prog: None, timeout_s=3600, sources={"datasync"})
    wall = time.perf_counter() - started
    events, = [v for v in job.verify(settings, {"datasync"}) if v.stream == "datasync/events"]
    return wall, events


def throughput(events: int) -> None:
    settings, stack = fresh_stack(4700, "peer", {
        "TRIBUTARY_DATASYNC_EVENTS": str(events),
        "TRIBUTARY_DATASYNC_SESSIONS": str(max(100, events // 50))},
        polling=frozenset({"datasync"}))
    try:
        wall, verdict = run_tributary(settings)
        peer = run_dlt(settings, "dlt_peer")
    finally:
        stack.down()
    ours = verdict.postgres_rows / wall
    theirs = peer["rows"] / peer["seconds"]
    print(f"== {events:,} DataSync events, the same simulator (1 s rate windows)")
    print(f"  Tributary ingest (feed + sessions, PostgreSQL + Delta lake): {wall:7.1f} s  "
          f"{ours:9,.0f} events/s  ({verdict.postgres_rows:,} rows, "
          f"{'exact' if verdict.ok else 'NOT EXACT'})")
    print(f"  dlt {DLT.split('==')[1]} rest_api (cursor listing, merge into PostgreSQL): "
          f"{peer['seconds']:7.1f} s  {theirs:9,.0f} events/s  ({peer['rows']:,} rows"
          f"{', error: ' + peer['error'] if peer['error'] else ''})")
    print(f"  ratio: Tributary is {ours / theirs:.1f}x dlt")


def one_bad_timestamp(events: int) -> None:
    settings, stack = fresh_stack(4710, "peer-bad", {
        "TRIBUTARY_DATASYNC_EVENTS": str(events), "TRIBUTARY_DATASYNC_SESSIONS": "100",
        "TRIBUTARY_DATASYNC_TIMESTAMP_FORMS": '["iso_z"]',
        "TRIBUTARY_DATASYNC_CHAOS_BAD_TIMESTAMP_EVERY": str(events)},
        polling=frozenset({"datasync"}))
    try:
        _, verdict = run_tributary(settings)
        peer = run_dlt(settings, "dlt_bad", typed=True)
    finally:
        stack.down()
    reason = verdict.reasons[0].problem if verdict.reasons else "-"
    print(f"== {events:,} events, one of them with timestamp \"the day after tomorrow\"")
    print(f"  Tributary: {verdict.postgres_rows:,} loaded, {verdict.rejected_records} rejected "
          f"({reason})")
    print(f"  dlt (timestamp typed, data types frozen): {peer['rows']:,} loaded; "
          f"{peer['error'] or 'no error'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--bad-page-events", type=int, default=20_000)
    args = parser.parse_args()
    dlt_python()
    throughput(args.events)
    one_bad_timestamp(args.bad_page_events)


if __name__ == "__main__":
    main()
