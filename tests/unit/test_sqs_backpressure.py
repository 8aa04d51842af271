"""An SQS poller under backpressure: every receive counts toward the queue's maxReceiveCount,
so it receives nothing while no worker is free, and keeps hidden a batch that must wait for
one. A fake queue and fake execution environments: no processes, no emulator."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import psutil
import pytest

from localcloud.runtime.pool import FunctionPool
from localcloud.runtime.sqs import SqsPoller
from localcloud.template import load_template

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
URL = "http://queue/probe-busy"


class FakeEnvironment:
    """Answers every invocation at once."""

    ps = psutil.Process(os.getpid())
    exitcode = None

    def send(self, request_id: str, event_json: bytes, deadline: float) -> None:
        pass

    def wait(self, deadline: float, memory_mb: int | None) -> tuple[bool, bytes, float]:
        return True, b"{}", 1.0

    def kill(self) -> None:
        pass


class FakeSqs:
    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.received = 0
        self.visibility: list[int] = []  # every VisibilityTimeout asked, in order
        self.deleted: list[str] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 - boto3's names
        return {"QueueUrl": URL}

    def get_queue_attributes(self, **_: Any) -> dict[str, dict[str, str]]:
        return {"Attributes": {"VisibilityTimeout": "3"}}

    def receive_message(self, MaxNumberOfMessages: int, **_: Any  # noqa: N803
                        ) -> dict[str, list[dict[str, Any]]]:
        n = min(MaxNumberOfMessages, self.waiting)
        self.waiting -= n
        self.received += n
        return {"Messages": [{"MessageId": f"m{self.received - i}", "ReceiptHandle":
                              f"r{self.received - i}", "Body": "{}"} for i in range(n)]}

    def change_message_visibility_batch(self, Entries: list[dict[str, Any]],  # noqa: N803
                                        **_: Any) -> dict[str, Any]:
        self.visibility += [e["VisibilityTimeout"] for e in Entries]
        return {}

    def delete_message_batch(self, Entries: list[dict[str, Any]], **_: Any  # noqa: N803
                             ) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in Entries]
        return {}


@pytest.fixture
def account() -> threading.BoundedSemaphore:
    """An account of one concurrent execution, taken (by another function) until released."""
    slots = threading.BoundedSemaphore(1)
    slots.acquire()
    return slots


def _poller(tmp_path: Path, account: threading.BoundedSemaphore, sqs: FakeSqs
            ) -> tuple[SqsPoller, threading.Event]:
    fn = load_template(FIXTURES / "probe" / "template.yaml").function("probe-busy")
    pool = FunctionPool(fn, {}, tmp_path, account, 1, start=FakeEnvironment)
    stop = threading.Event()
    return SqsPoller(fn.sqs[0], pool, sqs, "us-east-1", stop, deque()), stop


def test_nothing_is_received_while_no_worker_is_free(
        tmp_path: Path, account: threading.BoundedSemaphore) -> None:
    sqs = FakeSqs(waiting=4)
    poller, stop = _poller(tmp_path, account, sqs)
    poller.start()
    try:
        time.sleep(0.5)
        assert sqs.received == 0
        account.release()  # a worker is free: the queue drains, every message delivered once
        deadline = time.monotonic() + 5
        while len(sqs.deleted) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(sqs.deleted) == ["r1", "r2", "r3", "r4"]
        assert sqs.received == 4
    finally:
        stop.set()
        poller.join(time.monotonic() + 5)


def test_a_batch_waiting_for_a_worker_stays_hidden_and_goes_back_at_stop(
        tmp_path: Path, account: threading.BoundedSemaphore) -> None:
    sqs = FakeSqs(waiting=2)
    poller, stop = _poller(tmp_path, account, sqs)
    poller._queue_url()
    batch = poller._receive(URL, 2, 0)  # received just before another caller took the worker
    waiting = threading.Thread(target=poller._dispatch, args=(URL, batch, time.monotonic()))
    waiting.start()
    time.sleep(2.5)  # past a third of the 3 s visibility timeout, twice
    assert sqs.visibility[:4] == [3, 3, 3, 3], sqs.visibility
    assert sqs.deleted == []
    stop.set()
    waiting.join(5)
    assert not waiting.is_alive()
    assert sqs.visibility[-2:] == [0, 0]  # given back at once, never invoked
    assert sqs.deleted == [] and poller.batches == 0
