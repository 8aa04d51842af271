"""What durability costs per acknowledged write: the emulator alone, its state on this disk.

    .venv/bin/python infra/bench/durability_bench.py [--writes 2000] [--threads 1 8]

Starts the emulator twice on a temporary state folder, durable (every acknowledged write
fsynced, the default) and with ``--unsafe-no-fsync`` (what a power cut may lose, as before
issue 25), and times S3 PUTs of 4 KiB and of 1 MiB, SQS sends and DynamoDB puts, one client at
a time and several at once: ms per write (median, p99) and writes/s. Port 4730.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from common import percentile

PORT = 4730
_KIB4, _MIB = b"x" * 4096, b"y" * (1 << 20)


def _client(service: str) -> Any:
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{PORT}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def _start(state: Path, sync: bool) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "localcloud.emulator", "--port", str(PORT),
                             "--state-dir", str(state), "--runtime-url", "http://127.0.0.1:9",
                             *([] if sync else ["--unsafe-no-fsync"])])
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/_tributary/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError("the emulator did not start")


def _writes(kind: str) -> Callable[[int], None]:
    if kind.startswith("s3"):
        s3, body = _client("s3"), _KIB4 if kind == "s3 4 KiB" else _MIB
        return lambda n: s3.put_object(Bucket="bench", Key=f"k/{n}", Body=body)
    if kind == "sqs send":
        sqs = _client("sqs")
        url = sqs.get_queue_url(QueueName="bench")["QueueUrl"]
        return lambda n: sqs.send_message(QueueUrl=url, MessageBody=f"message {n}")
    ddb = _client("dynamodb")
    return lambda n: ddb.put_item(TableName="bench", Item={"id": {"S": str(n)},
                                                             "n": {"N": str(n)}})


def _time(kind: str, writes: int, threads: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    each = writes // threads

    def work(t: int) -> None:
        write = _writes(kind)
        for i in range(each):
            began = time.perf_counter()
            write(t * each + i)
            latencies.append((time.perf_counter() - began) * 1000)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    began = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, len(latencies) / (time.perf_counter() - began)


def _setup() -> None:
    _client("s3").create_bucket(Bucket="bench")
    _client("sqs").create_queue(QueueName="bench")
    _client("dynamodb").create_table(
        TableName="bench", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    print(f"== acknowledged writes against the emulator ({args.writes} per row)")
    print(f"  {'mode':<10} {'write':<16} {'clients':>7} {'median ms':>10} {'p99 ms':>8} "
          f"{'writes/s':>9}")
    for mode in ("no fsync", "durable"):
        with tempfile.TemporaryDirectory(dir=Path.home()) as state:
            proc = _start(Path(state), sync=mode == "durable")
            try:
                _setup()
                for kind in ("s3 4 KiB", "s3 1 MiB", "sqs send", "dynamodb put"):
                    for threads in args.threads:
                        n = args.writes // (10 if kind == "s3 1 MiB" else 1)
                        lat, rate = _time(kind, n, threads)
                        p50, p99 = percentile(lat, 0.5) or 0, percentile(lat, 0.99) or 0
                        print(f"  {mode:<10} {kind:<16} {threads:>7} {p50:>10.2f} "
                              f"{p99:>8.2f} {rate:>9,.0f}", flush=True)
            finally:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
