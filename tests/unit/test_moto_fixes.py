"""The emulator's changes to moto keep its answers: DynamoDB item reads (projected or not)
give boto3 the same items, of every attribute type, as moto's own code."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.responses import DynamoResult
from moto.s3.models import s3_backends

from localcloud import moto_fixes

ITEM: dict[str, Any] = {
    "pk": "s#t", "sk": "p1", "text": "héllo", "empty": "", "int": 7, "big": 10**30,
    "frac": Decimal("0.125"), "neg": -3, "yes": True, "none": None, "blob": b"\x00\xffbytes",
    "map": {"a": [1, "two", {"b": None}], "c": b"\x01"}, "list": [], "strings": {"x", "y"},
    "numbers": {1, Decimal("2.5")}, "blobs": {b"a", b"b"},
}


def _reads(table: Any) -> list[Any]:
    table.put_item(Item=ITEM)
    table.put_item(Item={"pk": "s#t", "sk": "p2", "n": 2})
    client = table.meta.client
    return [
        table.get_item(Key={"pk": "s#t", "sk": "p1"})["Item"],
        table.query(KeyConditionExpression=Key("pk").eq("s#t"))["Items"],
        table.query(KeyConditionExpression=Key("pk").eq("s#t"), Limit=1),
        table.scan(ProjectionExpression="pk, sk, #m.a", ExpressionAttributeNames={"#m": "map"}),
        table.scan(ProjectionExpression="#m.a[2], #m.c, #m.a[0], strings, nothing",
                   ExpressionAttributeNames={"#m": "map"}),
        table.query(KeyConditionExpression=Key("pk").eq("s#t"), ProjectionExpression="#n, sk",
                    ExpressionAttributeNames={"#n": "n"})["Items"],
        table.query(KeyConditionExpression=Key("pk").eq("nothing"))["Items"],
        client.batch_get_item(RequestItems={"t": {"Keys": [{"pk": "s#t", "sk": "p2"}]}}
                              )["Responses"],
    ]


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        yield ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])


def _without_metadata(answers: list[Any]) -> list[Any]:
    return [{k: v for k, v in a.items() if k != "ResponseMetadata"} if isinstance(a, dict)
            and "ResponseMetadata" in a else a for a in answers]


def test_item_reads_written_directly_are_what_moto_wrote(table: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    moto_own = _without_metadata(_reads(table))
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    monkeypatch.setattr(Item, "project", Item.project)
    moto_fixes.apply()
    table.delete_item(Key={"pk": "s#t", "sk": "p2"})
    assert _without_metadata(_reads(table)) == moto_own
    assert moto_own[0] == ITEM


def test_an_error_is_still_moto_own(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    monkeypatch.setattr(Item, "project", Item.project)
    moto_fixes.apply()
    with pytest.raises(table.meta.client.exceptions.ResourceNotFoundException):
        table.meta.client.query(TableName="missing", KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": {"S": "x"}})


def test_s3_bodies_over_64_kib_leave_the_emulators_memory(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", raising=False)
    moto_fixes.apply()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bodies")
        for key, size in (("small", 1024), ("page", 400 * 1024)):
            s3.put_object(Bucket="bodies", Key=key, Body=b"x" * size)
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets["bodies"]
        assert [bucket.keys[k]._value_buffer._rolled for k in ("small", "page")] == [False, True]
        assert s3.get_object(Bucket="bodies", Key="page")["Body"].read() == b"x" * 400 * 1024


def test_put_events_passes_a_schedule_by() -> None:
    moto_fixes.apply()
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="tick", Targets=[{
            "Id": "f", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}])
        sent = events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
        assert sent["FailedEntryCount"] == 0
