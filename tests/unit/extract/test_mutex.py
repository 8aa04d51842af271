"""The cross-process mutex: one holder at a time, a dead holder's lease lapses by itself
(moto's DynamoDB, in process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import checkpoints_table
from tributary.extract.mutex import Mutex, MutexTimeout


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        yield checkpoints_table(dynamodb, "checkpoints")


def test_holders_take_turns(table: Any) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def work(n: int) -> None:
        with Mutex(table, "job", poll_s=0.01).held(wait_s=10):
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and inside == []
    assert table.scan()["Items"] == []  # every holder gave its lease up


def test_a_dead_holders_lease_lapses_and_a_waiter_gives_up_in_time(table: Any) -> None:
    dead = Mutex(table, "job", hold_s=0.5)
    assert dead._take()  # and never gives it up, as a killed process would not
    with pytest.raises(MutexTimeout, match="still held"), \
            Mutex(table, "job", poll_s=0.05).held(wait_s=0.2):
        pass
    started = time.monotonic()
    with Mutex(table, "job", poll_s=0.05).held(wait_s=5):
        waited = time.monotonic() - started
    assert 0.1 < waited < 2.0
    # A late give-up by the dead holder does not remove a lease that is no longer its own.
    other = Mutex(table, "job", hold_s=30)
    assert other._take()
    dead._give_up()
    assert table.scan()["Items"][0]["owner"] == other.me
