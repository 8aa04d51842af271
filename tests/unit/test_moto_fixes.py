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


def _expected(keys: set[str], prefix: str, delimiter: str | None) -> tuple[list[str], list[str]]:
    """S3's answer, from its definition: the keys under the prefix, folded at the delimiter."""
    contents, folders = [], set()
    for key in sorted(k for k in keys if k.startswith(prefix)):
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            folders.add(prefix + rest.split(delimiter)[0] + delimiter)
        else:
            contents.append(key)
    return contents, sorted(folders)


def _listed(s3: Any, bucket: str, **kw: Any) -> tuple[list[str], list[str]]:
    contents: list[str] = []
    folders: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        contents += [o["Key"] for o in page.get("Contents", [])]
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return contents, folders


def test_s3_listings_by_index_give_s3s_answer() -> None:
    moto_fixes.apply()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        keys = {f"{t}/_delta_log/{v:020d}.json" for t in ("a", "ab", "b") for v in range(12)}
        keys |= {f"{t}/dt=2026-12-0{d}/part-{n}.parquet" for t in ("a", "b")
                 for d in range(1, 4) for n in range(5)}
        keys |= {"top.csv", "a.txt", "x/y/z", "x/y", "x//double"}
        for key in sorted(keys):
            s3.put_object(Bucket="lake", Key=key, Body=b"1")
        for gone in ("a/_delta_log/00000000000000000003.json", "x/y",
                     "b/dt=2026-12-02/part-4.parquet"):
            s3.delete_object(Bucket="lake", Key=gone)
            keys.discard(gone)
        s3.put_object(Bucket="lake", Key="a/_delta_log/00000000000000000001.json", Body=b"2")
        for prefix in ("", "a", "a/", "a/_delta_log/", "b/dt=", "x/", "nothing/"):
            for delimiter in (None, "/"):
                for page_size in (3, 1000):
                    kw: dict[str, Any] = {"Prefix": prefix, "PaginationConfig": {
                        "PageSize": page_size}}
                    if delimiter:
                        kw["Delimiter"] = delimiter
                    assert _listed(s3, "lake", **kw) == _expected(keys, prefix, delimiter), kw
        after = s3.list_objects_v2(Bucket="lake", Prefix="a/_delta_log/",
                                   StartAfter="a/_delta_log/00000000000000000009.json")
        assert [o["Key"] for o in after["Contents"]] == [
            f"a/_delta_log/{v:020d}.json" for v in (10, 11)]


def test_answers_are_not_kept_after_they_are_sent(table: Any) -> None:
    """A server never resets moto, so what moto tracked for a reset was kept for ever."""
    from moto.dynamodb.models.dynamo_type import Item as Tracked

    moto_fixes.apply()
    _reads(table)
    kept = len(getattr(Tracked, "instances_tracked", []))
    for _ in range(50):
        assert len(table.query(KeyConditionExpression=Key("pk").eq("s#t"))["Items"]) == 2
    assert len(getattr(Tracked, "instances_tracked", [])) == kept


def test_a_query_reads_its_key_and_gives_moto_s_answer(table: Any) -> None:
    moto_fixes.apply()
    for n in range(30):  # other keys, which the query must not return
        table.put_item(Item={"pk": f"other#{n}", "sk": "p1", "n": n})
    table.put_item(Item={"pk": "s#t", "sk": "p3", "n": 3})
    table.put_item(Item={"pk": "s#t", "sk": "p0", "n": 0})
    got = table.query(KeyConditionExpression=Key("pk").eq("s#t"))["Items"]
    assert [i["sk"] for i in got] == ["p0", "p3"]
    back = table.query(KeyConditionExpression=Key("pk").eq("s#t") & Key("sk").gt("p0"),
                       ScanIndexForward=False)["Items"]
    assert [i["sk"] for i in back] == ["p3"]
    assert table.query(KeyConditionExpression=Key("pk").eq("none"))["Items"] == []
    page = table.query(KeyConditionExpression=Key("pk").eq("s#t"), Limit=1)
    rest = table.query(KeyConditionExpression=Key("pk").eq("s#t"),
                       ExclusiveStartKey=page["LastEvaluatedKey"])["Items"]
    assert [i["sk"] for i in page["Items"] + rest] == ["p0", "p3"]
