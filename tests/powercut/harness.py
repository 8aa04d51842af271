"""Power cuts under load: the emulator keeps its state on a ``lossyfs`` mount while writers
send S3 PUTs and DELETEs, SQS sends and DynamoDB puts; each acknowledgement is logged outside
the mount. At a random moment the emulator is SIGKILLed and the mount unmounted, which throws
away everything not fsynced. The emulator is then started again on what is left, and every
acknowledged write must be there: objects with the right bytes, messages, items, deletions,
and SQLite's ``integrity_check`` ok.

A write in flight at the cut may or may not have landed: its outcome is accepted either way,
but no other.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
from botocore.config import Config

BUCKET, QUEUE, TABLE = "cuts", "cuts", "cuts"
ROOT = Path(__file__).resolve().parents[2]
_SIZES = (0, 1, 700, 4096, 65_536, 300_000)


def _wait(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {seconds:.0f}s")
        time.sleep(0.05)


@contextmanager
def mounted(image: Path, mountpoint: Path) -> Iterator[None]:
    """The lossy filesystem at ``mountpoint`` until the block ends; then the power cut."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    fs = subprocess.Popen([sys.executable, "-m", "tests.powercut.lossyfs", str(image),
                           str(mountpoint)], cwd=ROOT)
    try:
        _wait(lambda: os.path.ismount(mountpoint) or fs.poll() is not None, 20, "no mount")
        if fs.poll() is not None:
            raise RuntimeError(f"lossyfs exited with {fs.returncode}")
        yield
    finally:
        subprocess.run(["fusermount3", "-u", str(mountpoint)], check=False)
        fs.wait(30)


class Emulator:
    def __init__(self, state: Path, port: int, sync: bool, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-m", "localcloud.emulator", "--port", str(port),
                "--state-dir", str(state), "--runtime-url", "http://127.0.0.1:9"]
        self.proc = subprocess.Popen(args + ([] if sync else ["--unsafe-no-fsync"]),
                                     stdout=log.open("ab"), stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with {self.proc.returncode} (see its log)")
        try:
            return httpx.get(f"{self.url}/_tributary/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 1}, connect_timeout=2,
                                          read_timeout=10))


@dataclass
class Acked:
    """What the emulator acknowledged, and what was in flight when it died."""
    objects: dict[str, str | None] = field(default_factory=dict)  # key -> sha256, None: deleted
    objects_in_flight: dict[str, str | None] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    items_in_flight: dict[str, int] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, path: Path, kind: str, key: str, value: Any) -> None:
        with self.lock, path.open("ab") as f:  # outside the mount: not subject to the cut
            f.write(orjson.dumps({"kind": kind, "key": key, "value": value}) + b"\n")
            self.count += 1


def _writer(emu: Emulator, acked: Acked, log: Path, name: str, stop: threading.Event) -> None:
    s3, sqs, ddb = emu.client("s3"), emu.client("sqs"), emu.client("dynamodb")
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    rng = random.Random()
    n = 0
    while not stop.is_set():
        n += 1
        key, pick = f"{name}/{rng.randrange(40)}", rng.random()
        try:
            if pick < 0.4:
                body = rng.randbytes(rng.choice(_SIZES))
                digest = hashlib.sha256(body).hexdigest()
                acked.objects_in_flight[key] = digest
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)
                acked.objects[key] = digest
                acked.objects_in_flight.pop(key)
                acked.log(log, "s3-put", key, digest)
            elif pick < 0.5:
                acked.objects_in_flight[key] = None
                s3.delete_object(Bucket=BUCKET, Key=key)
                acked.objects[key] = None
                acked.objects_in_flight.pop(key)
                acked.log(log, "s3-delete", key, None)
            elif pick < 0.8:
                body = f"{name}-{n}-{rng.random()}"
                sqs.send_message(QueueUrl=queue_url, MessageBody=body)
                acked.sent.add(body)
                acked.log(log, "sqs-send", body, None)
            else:
                acked.items_in_flight[key] = n
                ddb.put_item(TableName=TABLE, Item={"id": {"S": key}, "n": {"N": str(n)}})
                acked.items[key] = n
                acked.items_in_flight.pop(key)
                acked.log(log, "dynamodb-put", key, n)
        except Exception:  # the emulator died under this request: it was never acknowledged
            return


def _create(emu: Emulator) -> None:
    emu.client("s3").create_bucket(Bucket=BUCKET)
    emu.client("sqs").create_queue(QueueName=QUEUE)
    emu.client("dynamodb").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")


def _check_objects(emu: Emulator, acked: Acked) -> list[str]:
    s3, problems = emu.client("s3"), []
    for key, digest in acked.objects.items():
        allowed = {digest} | ({acked.objects_in_flight[key]}
                              if key in acked.objects_in_flight else set())
        try:
            found: str | None = hashlib.sha256(
                s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()
        except s3.exceptions.NoSuchKey:
            found = None
        if found not in allowed:
            problems.append(f"s3://{BUCKET}/{key}: holds {found}, acknowledged {digest}")
    return problems


def _check_messages(emu: Emulator, acked: Acked, rng: random.Random) -> list[str]:
    """Every acknowledged message is queued and no acknowledged deletion came back; then a
    random half are deleted, for the next round to check."""
    sqs = emu.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    seen: dict[str, str] = {}
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=600).get("Messages", []):
        seen.update({m["Body"]: m["ReceiptHandle"] for m in batch})
    problems = [f"sqs: acknowledged message {b} is gone" for b in acked.sent - set(seen)
                if b not in acked.deleted]
    problems += [f"sqs: message {b} came back after its deletion was acknowledged"
                 for b in acked.deleted & set(seen)]
    for body in rng.sample(sorted(set(seen) - acked.deleted), len(seen) // 2):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=seen[body])
        acked.deleted.add(body)
    return problems


def _check_items(emu: Emulator, acked: Acked) -> list[str]:
    ddb, found, start = emu.client("dynamodb"), {}, None
    while True:
        page = ddb.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
        found.update({i["id"]["S"]: int(i["n"]["N"]) for i in page["Items"]})
        if not (start := page.get("LastEvaluatedKey")):
            break
    return [f"dynamodb: item {k} holds {found.get(k)}, acknowledged {n}"
            for k, n in acked.items.items()
            if found.get(k) not in {n, acked.items_in_flight.get(k, n)}]


def integrity(state: Path) -> list[str]:
    if not (state / "state.db").exists():
        return [f"{state / 'state.db'} is gone"]
    db = sqlite3.connect(state / "state.db")
    try:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    return [] if verdict == "ok" else [f"SQLite integrity_check: {verdict}"]


@dataclass
class Report:
    rounds: int = 0
    acknowledged: int = 0
    problems: list[str] = field(default_factory=list)


def _power_cut_under_load(emu: Emulator, acked: Acked, log: Path, seconds: float) -> None:
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(emu, acked, log, f"w{i}", stop))
               for i in range(4)]
    for w in writers:
        w.start()
    time.sleep(seconds)
    emu.kill()  # the power goes, mid-request
    stop.set()
    for w in writers:
        w.join(15)


def run(folder: Path, port: int, rounds: int, budget_s: float, sync: bool = True,
        seed: int = 0) -> Report:
    """Up to ``rounds`` power cuts within ``budget_s``, each followed by a check; stops at the
    first check that finds a loss. The bucket, queue and table are made first by a durable
    emulator, so that with ``sync`` off what is found lost is the writes under load."""
    rng = random.Random(seed)
    image, mnt, log = folder / "disk.img", folder / "mnt", folder / "acks.jsonl"
    acked, report = Acked(), Report()
    deadline = time.monotonic() + budget_s
    for n in range(rounds + 2):
        with mounted(image, mnt):
            if n and (problems := integrity(mnt / "state")):
                report.problems = problems
                break
            emu = Emulator(mnt / "state", port, sync or n == 0, folder / "emulator.log")
            try:
                _wait(emu.healthy, 60, "the emulator did not answer")
            except RuntimeError as exc:
                report.problems = [f"after {report.rounds} power cuts: {exc}"]
                break
            if n == 0:
                _create(emu)
                acked.log(log, "created", BUCKET, None)
                emu.kill()
                continue
            report.problems = (_check_objects(emu, acked) + _check_items(emu, acked)
                               + _check_messages(emu, acked, rng))
            if report.problems or n > rounds or time.monotonic() > deadline:
                emu.kill()
                break
            _power_cut_under_load(emu, acked, log, rng.uniform(0.3, 2.0))
            report.rounds += 1
    report.acknowledged = acked.count
    return report
