"""Live source benchmark: initial copy, change latency, burst, repair after a socket drop.

    .venv/bin/python infra/bench/live_bench.py                    # 100,000 and 1,000,000 rows
    .venv/bin/python infra/bench/live_bench.py --rows 100000 --seconds 20

For each table size, on a fresh stack:
- **initial copy**: from the holder's first connect to its last window checkpointed;
- **latency** at the default rate (0-31 changes a second) and at a burst (~1,000 a second):
  the benchmark watches upstream's socket itself (arrival there = "upstream"), reads when
  each change was applied in PostgreSQL (``applied_at``), and subscribes to the whole range
  through the WebSocket API (arrival = "subscriber");
- **repair**: every socket dropped at once; from the drop to every window read again, and
  whether the copy then equals upstream.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_stack, percentile  # noqa: E402

BASE = 5100
SIM = f"http://127.0.0.1:{BASE + 6}"


def _log_lines(settings: Any, message: str) -> list[dict[str, Any]]:
    path = settings.home_dir / "logs" / "functions" / "tributary-live.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()
            if f'"message":"{message}"' in line]


def _stamp(line: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


def _copy_time(settings: Any, rows: int) -> float:
    from localcloud.config import emulator_resource

    table = emulator_resource("dynamodb", settings).Table(settings.checkpoints_table)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        plan = table.get_item(Key={"pk": "live#timeline/rows", "sk": "plan"}).get("Item")
        copied = table.query(KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
                             ExpressionAttributeValues={":p": "live#timeline/rows",
                                                        ":c": "copy#"})["Items"]
        if plan and len(copied) == len(plan["windows"]):
            start = _stamp(_log_lines(settings, "change stream connected; repairing")[0])
            return max(float(i["at"]) for i in copied) - start
        time.sleep(0.5)
    raise TimeoutError(f"the first copy of {rows} rows did not finish in 10 minutes")


class Watch(threading.Thread):
    """Upstream's socket as the consumer sees it: when each message was broadcast."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{BASE + 6}/data") as ws:
            while not self.stop.is_set():
                try:
                    text = str(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                self.seen[text] = time.time()


def _key(doc: dict[str, Any]) -> tuple[str, int, str]:
    row = doc.get("new") or doc.get("row") or doc
    return doc.get("type") or doc.get("op") or "", int(row["id"]), str(row.get("body"))


def _latency(settings: Any, seconds: float, max_ops: int, tick_s: float) -> dict[str, Any]:
    from localcloud.credentials import api_token
    from tributary.live.subscriber import Subscriber

    httpx.post(f"{SIM}/control", json={"max_ops": max_ops, "tick_s": tick_s}).raise_for_status()
    watch = Watch()
    watch.start()
    time.sleep(1)
    sub = Subscriber(f"ws://127.0.0.1:{BASE + 1}/ws/tributary-live", api_token(settings))
    sub.subscribe(-(2**53), 2**53)
    first = sub.last
    arrived = {(c["op"], c["id"], str(c["row"].get("body"))): at
               for at, c in sub.changes(seconds)}
    sub.close()
    watch.stop.set()
    httpx.post(f"{SIM}/control", json={"max_ops": 31, "tick_s": 1.0}).raise_for_status()
    with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
        applied = conn.execute("SELECT message, extract(epoch FROM applied_at) FROM "
                               "timeline_changes WHERE seq > %s AND origin = 'stream'",
                               (first,)).fetchall()
    upstream = {_key(orjson.loads(t)): at for t, at in watch.seen.items()}
    to_pg = [(float(at) - upstream[_key(orjson.loads(m))]) * 1000 for m, at in applied
             if _key(orjson.loads(m)) in upstream]
    to_sub = [(at - upstream[k]) * 1000 for k, at in arrived.items() if k in upstream]
    return {"changes_per_s": round(len(watch.seen) / (seconds + 1), 1),
            "to_postgres_ms": {"p50": round(percentile(to_pg, 0.5), 1),
                               "p99": round(percentile(to_pg, 0.99), 1), "n": len(to_pg)},
            "to_subscriber_ms": {"p50": round(percentile(to_sub, 0.5), 1),
                                 "p99": round(percentile(to_sub, 0.99), 1), "n": len(to_sub)}}


def _exact(settings: Any) -> bool:
    httpx.post(f"{SIM}/control", json={"paused": True}).raise_for_status()
    try:
        up = {(r["id"], r["timestamp"], r["body"]) for r in httpx.get(f"{SIM}/data",
                                                                      timeout=120).json()}
        for _ in range(60):
            with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
                mine = {(r[0], int(r[1]), r[2]) for r in conn.execute(
                    "SELECT id, extract(epoch FROM timestamp)::bigint, body FROM timeline "
                    "WHERE NOT _deleted")}
            if mine == up:
                return True
            time.sleep(1)
        return False
    finally:
        httpx.post(f"{SIM}/control", json={"paused": False}).raise_for_status()


def _repair(settings: Any) -> dict[str, Any]:
    before = len(_log_lines(settings, "windows read again"))
    dropped = time.time()
    httpx.post(f"{SIM}/control", json={"drop": True}).raise_for_status()
    deadline = time.monotonic() + 300
    while len(lines := _log_lines(settings, "windows read again")) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("no repair after the drop")
        time.sleep(0.2)
    return {"drop_to_repaired_s": round(_stamp(lines[-1]) - dropped, 2),
            "exact_after": _exact(settings)}


def run(rows: int, seconds: float) -> dict[str, Any]:
    settings, stack = fresh_stack(BASE, "live", {
        "TRIBUTARY_TIMELINE_ROWS": str(rows), "TRIBUTARY_SCHEDULE_SCALE": "0.05"},
        polling=frozenset({"timeline"}))
    try:
        copy_s = _copy_time(settings, rows)
        time.sleep(3)
        out = {"rows": rows, "initial_copy_s": round(copy_s, 2),
               "default_rate": _latency(settings, seconds, 31, 1.0),
               "burst": _latency(settings, seconds, 200, 0.1)}
        out["repair"] = _repair(settings)
        return out
    finally:
        stack.down()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    for rows in args.rows:
        print(json.dumps(run(rows, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
