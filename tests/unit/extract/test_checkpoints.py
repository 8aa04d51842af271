"""Partition leases: one fetcher at a time; a lapsed lease is taken over; the old holder is
fenced out of further checkpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tributary.extract.checkpoints import Checkpoints, LeaseLost, Partition


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="cp", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        yield ddb


def test_planning_is_idempotent(dynamodb: Any) -> None:
    store = Checkpoints("cp", lease_s=60, dynamodb=dynamodb)
    p = Partition("datasync", "events", "feed-0-10", "feed", since=0, until=10)
    assert store.add(p) is True
    assert store.add(p) is False
    assert [q.name for q in store.partitions("datasync", "events")] == ["feed-0-10"]


def test_one_holder_at_a_time_and_takeover_after_expiry(dynamodb: Any) -> None:
    store = Checkpoints("cp", lease_s=0.3, dynamodb=dynamodb)
    p = Partition("datasync", "events", "feed-0-10", "feed", since=0, until=10)
    store.add(p)
    assert store.lease(p, "fetcher-a")
    assert not store.lease(p, "fetcher-b")  # a concurrent fetcher is refused
    p.seq, p.records, p.cursor = 1, 100, "c1"
    store.advance(p, "fetcher-a", landed=1, done=False)  # renews a's lease
    assert not store.lease(p, "fetcher-b")
    time.sleep(0.4)  # a stops renewing (crashed)
    assert store.lease(p, "fetcher-b")
    (saved,) = store.partitions("datasync", "events")
    assert (saved.seq, saved.records, saved.cursor) == (1, 100, "c1")  # b resumes from here
    with pytest.raises(LeaseLost):
        store.advance(p, "fetcher-a", landed=2, done=False)  # a is fenced out


def _leased_by_a(dynamodb: Any) -> tuple[Checkpoints, Partition]:
    store = Checkpoints("cp", lease_s=60, dynamodb=dynamodb)
    p = Partition("datasync", "events", "feed-0-10", "feed", since=0, until=10)
    store.add(p)
    assert store.lease(p, "a")
    return store, p


def test_done_partitions_are_not_leased(dynamodb: Any) -> None:
    store, p = _leased_by_a(dynamodb)
    store.advance(p, "a", landed=1, done=True)
    store.release(p, "a")
    assert not store.lease(p, "b")


def test_the_last_checkpoint_gives_the_lease_up(dynamodb: Any) -> None:
    store, p = _leased_by_a(dynamodb)
    store.advance(p, "a", landed=1, done=False)
    item = dynamodb.Table("cp").get_item(Key={"pk": p.pk, "sk": p.name})["Item"]
    assert item["lease_owner"] == "a" and "lease_until" in item
    store.advance(p, "a", landed=2, done=True)
    item = dynamodb.Table("cp").get_item(Key={"pk": p.pk, "sk": p.name})["Item"]
    assert item["status"] == "done" and "lease_owner" not in item and "lease_until" not in item
    assert not p.held  # so the fetcher's release makes no call


def test_a_page_landed_after_a_failure_clears_the_error(dynamodb: Any) -> None:
    store, p = _leased_by_a(dynamodb)
    store.fail(p, "a", "HTTP 200 BODY_ERROR: throttled", final=False, retry_at=0.0)
    assert store.lease(p, "a")
    (failing,) = store.partitions("datasync", "events")
    assert failing.error and failing.attempts == 1
    p.seq = 1
    store.advance(p, "a", landed=1, done=False)
    (saved,) = store.partitions("datasync", "events")
    assert (saved.error, saved.attempts, saved.seq) == (None, 0, 1)


def test_a_probe_found_unchanged_moves_only_a_done_partitions_end(dynamodb: Any) -> None:
    store, p = _leased_by_a(dynamodb)
    store.checked(p, 123.0)  # still pending (a pass under way): left alone
    assert store.partitions("datasync", "events")[0].finished_at == 0.0
    store.advance(p, "a", landed=1, done=True)
    later = round(time.time() + 5, 3)
    store.checked(p, later)
    assert store.partitions("datasync", "events")[0].finished_at == p.finished_at == later
