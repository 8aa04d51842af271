"""Benchmark the embedded local cloud: start-up, idle memory, SQS-to-handler latency.

    .venv/bin/python infra/bench/stack_bench.py [--messages 200]

Runs its own stack (ports 4630-4632, a temporary state folder), prints figures, stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import psutil
from common import percentile

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=50.0,
                        help="Pause between single sends (an idle-ish queue).")
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tributary-bench-"))
    os.environ.update({
        "TRIBUTARY_HOME": str(home), "TRIBUTARY_TEMPLATE": str(HERE / "template.yaml"),
        "TRIBUTARY_EMULATOR_PORT": "4630", "TRIBUTARY_RUNTIME_PORT": "4631",
        "TRIBUTARY_PG_DSN": "postgresql://tributary:tributary@127.0.0.1:4632/tributary",
    })
    from localcloud.config import emulator_client, load_stack
    from localcloud.deploy import Deployer
    from localcloud.stack import Stack
    from tributary.settings import Settings

    settings = Settings()
    stack = Stack(settings)

    def deploy() -> None:
        Deployer(load_stack(settings), settings).run()

    try:
        t = time.perf_counter()
        stack.up(deploy)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        stack.up(deploy)
        warm = time.perf_counter() - t
        stack.down()
        t = time.perf_counter()
        stack.up(deploy)
        restart = time.perf_counter() - t
        time.sleep(5)  # let the pre-warmed workers settle
        print("== start-up")
        print(f"  stack up, cold (fresh state folder, initdb): {cold:6.2f} s")
        print(f"  stack up, warm (everything already running): {warm:6.2f} s")
        print(f"  stack up after stack down (data kept):       {restart:6.2f} s")
        print("== memory at idle (RSS)")
        for st in stack.status():
            proc = psutil.Process(st.pid) if st.pid else None
            kids = proc.children(recursive=True) if proc else []
            total = sum(p.memory_info().rss for p in [proc, *kids] if p) / 2**20
            print(f"  {st.name:9s} {st.rss_mb:7.1f} MB  (with {len(kids)} child processes: "
                  f"{total:7.1f} MB)")

        sqs = emulator_client("sqs", settings)
        s3 = emulator_client("s3", settings)
        url = sqs.get_queue_url(QueueName="bench-latency")["QueueUrl"]

        def collect(expected: int, timeout: float = 120) -> list[float]:
            deadline = time.time() + timeout
            while time.time() < deadline:
                keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket="bench-bucket", Prefix="lat/") for o in page.get("Contents", [])]
                values = [v for k in keys for v in json.loads(
                    s3.get_object(Bucket="bench-bucket", Key=k)["Body"].read())]
                if len(values) >= expected:
                    for k in keys:
                        s3.delete_object(Bucket="bench-bucket", Key=k)
                    return values
                time.sleep(0.5)
            raise SystemExit(f"only {len(values)} of {expected} records arrived")

        for _ in range(args.messages):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"sent": time.time()}))
            time.sleep(args.gap_ms / 1000)
        lat = [v * 1000 for v in collect(args.messages)]
        print(f"== SQS -> handler latency, {args.messages} single messages "
              f"{args.gap_ms:.0f} ms apart")
        print(f"  p50 {percentile(lat, 0.5):7.1f} ms   p90 {percentile(lat, 0.9):7.1f} ms   "
              f"p99 {percentile(lat, 0.99):7.1f} ms   max {max(lat):7.1f} ms")

        t = time.perf_counter()
        for i in range(0, args.burst, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"sent": time.time()})}
                for n in range(min(10, args.burst - i))])
        sent = time.perf_counter() - t
        lat = [v * 1000 for v in collect(args.burst)]
        drained = time.perf_counter() - t
        print(f"== burst of {args.burst} messages (send_message_batch, 10 per call)")
        print(f"  sent in {sent:.2f} s; all handled after {drained:.2f} s "
              f"({args.burst / drained:.0f} records/s)")
        print(f"  p50 {percentile(lat, 0.5):7.1f} ms   p99 {percentile(lat, 0.99):7.1f} ms")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
