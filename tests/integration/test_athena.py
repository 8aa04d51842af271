"""Athena's API on the emulator's endpoint: the clients analysts use, unchanged, give the
answers ``tributary query`` gives; results page, export and fail as Athena's do; executions
outlive the service; the Glue catalog follows the lake."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT, Cloud, start_cloud, wait_for
from tests.integration.clients import ClientEnv, user_environment

pytestmark = pytest.mark.integration
EVENTS = 25_000
ENV = {"TRIBUTARY_DATASYNC_EVENTS": str(EVENTS), "TRIBUTARY_DATASYNC_SESSIONS": "500",
       "TRIBUTARY_DATASYNC_DAYS": "3", "TRIBUTARY_HALLOW_PUSH": "false"}
OUT = "s3://tributary-query-results/tests/"
COUNT = "SELECT count(*) AS n FROM events"
JOIN = ("SELECT e.type, count(*) AS n FROM events e JOIN pg.public.sessions s "
        "ON s.id = e.session_id GROUP BY 1 ORDER BY n DESC, e.type")
# Trino's own functions; the same answer written in DuckDB's words for ``tributary query``.
TRINO = ("SELECT date_format(occurred_at, '%Y-%m-%d') AS day, count_if(type = 'click') AS "
         "clicks, cardinality(array_distinct(array_agg(type))) AS kinds FROM events "
         "GROUP BY 1 ORDER BY 1")
DUCKDB = ("SELECT strftime(occurred_at, '%Y-%m-%d') AS day, count(*) FILTER (WHERE type = "
          "'click') AS clicks, count(DISTINCT type) AS kinds FROM events GROUP BY 1 ORDER BY 1")
CASES = [(COUNT, COUNT), (JOIN, JOIN), (TRINO, DUCKDB)]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("athena"), ROOT / "template.yaml", 4910, ENV)
    try:
        out = c.cli("ingest", "--source", "datasync", "--wait", "--timeout", "120")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        yield c
    finally:
        c.stack.down()
        mp.undo()


def _client(cloud: Cloud, service: str) -> Any:
    return boto3.client(service, endpoint_url=cloud.settings.emulator_url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def _run(athena: Any, sql: str, **kw: Any) -> dict[str, Any]:
    """Submit, poll until done; the final ``QueryExecution``."""
    qid = athena.start_query_execution(QueryString=sql, **kw)["QueryExecutionId"]
    return wait_for(lambda: _done(athena, qid), 60, 0.05, what=f"query {sql[:40]}")


def _done(athena: Any, qid: str) -> dict[str, Any] | None:
    ex: dict[str, Any] = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    return ex if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None


def _rows(athena: Any, qid: str, header: bool = True) -> list[list[str | None]]:
    """Every row through ``NextToken`` paging; a query's header row (SHOW and DESCRIBE have
    none) dropped."""
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=qid, PaginationConfig={"PageSize": 1000})
    rows = [[d.get("VarCharValue") for d in r["Data"]]
            for p in pages for r in p["ResultSet"]["Rows"]]
    return rows[1:] if header else rows


def _expected(cloud: Cloud, sql: str) -> list[list[str]]:
    out = cloud.cli("query", sql, "--format", "json")
    assert out.returncode == 0, out.stderr
    return [[str(v) for v in row] for row in json.loads(out.stdout)["rows"]]


def _text(rows: Any) -> list[list[str]]:
    return [[str(v) for v in row] for row in rows]


@pytest.mark.parametrize(("athena_sql", "duckdb_sql"), CASES, ids=["count", "join", "trino"])
def test_boto3_and_awslocal_agree_with_tributary_query(cloud: Cloud, client: ClientEnv,
                                                       athena_sql: str, duckdb_sql: str) -> None:
    want = _expected(cloud, duckdb_sql)
    assert want and want[0][0] != "0"
    env = user_environment(cloud)
    got = client.run(env, "boto3-query", athena_sql, OUT)
    assert got["status"]["State"] == "SUCCEEDED", got["status"]
    assert got["rows"] == want and got["scanned"] > 0
    started = client.command(env, "awslocal", "athena", "start-query-execution",
                             "--query-string", athena_sql, "--work-group", "primary",
                             "--output", "json")
    qid = json.loads(started)["QueryExecutionId"]
    wait_for(lambda: client.run(env, "athena-execution", qid)["state"] == "SUCCEEDED", 60, 0.05,
             what="the CLI's query")
    rows = json.loads(client.command(env, "awslocal", "athena", "get-query-results",
                                     "--query-execution-id", qid))["ResultSet"]["Rows"][1:]
    assert [[d.get("VarCharValue") for d in r["Data"]] for r in rows] == want


@pytest.mark.parametrize(("athena_sql", "duckdb_sql"), CASES, ids=["count", "join", "trino"])
def test_pyathena_and_awswrangler_agree_with_tributary_query(
        cloud: Cloud, client: ClientEnv, athena_sql: str, duckdb_sql: str) -> None:
    want = _expected(cloud, duckdb_sql)
    got = client.run(user_environment(cloud), "dbapi-query", athena_sql, OUT)
    assert got == {"pyathena": want, "pandas": want, "awswrangler": want}


def test_paging_gives_every_row_once(cloud: Cloud) -> None:
    athena = _client(cloud, "athena")
    ex = _run(athena, "SELECT id FROM events", ResultConfiguration={"OutputLocation": OUT})
    ids = [r[0] for r in _rows(athena, ex["QueryExecutionId"])]
    assert len(ids) == EVENTS == len(set(ids))
    assert set(ids) == {r[0] for r in cloud.sql("SELECT id FROM events")}
    with pytest.raises(ClientError, match="MaxResults"):
        athena.get_query_results(QueryExecutionId=ex["QueryExecutionId"], MaxResults=1001)
    # The CSV Athena writes beside: a header, every value quoted.
    key = ex["ResultConfiguration"]["OutputLocation"].removeprefix("s3://").split("/", 1)
    body = _client(cloud, "s3").get_object(Bucket=key[0], Key=key[1])["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0] == '"id"' and len(lines) == EVENTS + 1 and lines[1].startswith('"')


def test_unload_exports_exactly_the_ids(cloud: Cloud) -> None:
    athena, s3 = _client(cloud, "athena"), _client(cloud, "s3")
    want = {r[0] for r in cloud.sql("SELECT id FROM events")}
    for fmt in ("TEXTFILE", "PARQUET"):
        to = f"s3://tributary-query-results/unload-{fmt.lower()}/"
        sql = f"UNLOAD (SELECT id FROM events) TO '{to}' WITH (format = '{fmt}')"
        ex = _run(athena, sql, ResultConfiguration={"OutputLocation": OUT})
        assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tributary-query-results",
                                                     Prefix=f"unload-{fmt.lower()}/")["Contents"]]
        data = [s3.get_object(Bucket="tributary-query-results", Key=k)["Body"].read()
                for k in keys]
        if fmt == "TEXTFILE":
            got = [line for d in data for line in gzip.decompress(d).decode().splitlines()]
        else:
            got = [v for d in data for v in pq.read_table(io.BytesIO(d)).column("id").to_pylist()]
        assert len(got) == len(want) and set(got) == want
        manifest = ex["ResultConfiguration"]["OutputLocation"].removesuffix(".csv")
        listed = s3.get_object(Bucket="tributary-query-results", Key=manifest.split("/", 3)[3] +
                               "-manifest.csv")["Body"].read().decode().split()
        assert listed == [f"s3://tributary-query-results/{k}" for k in keys]
        again = _run(athena, sql, ResultConfiguration={"OutputLocation": OUT})
        assert again["Status"]["State"] == "FAILED"
        assert "HIVE_PATH_ALREADY_EXISTS" in again["Status"]["StateChangeReason"]


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT * FROM no_such_table", "TABLE_NOT_FOUND"),
    ("SELECT no_such_column FROM events", "COLUMN_NOT_FOUND"),
    ("SELEC 1", "SYNTAX_ERROR"),
    ("INSERT INTO events (id) VALUES ('x')", "NOT_SUPPORTED"),
    ("UNLOAD (SELECT 1) TO 's3://tributary-query-results/x/' WITH (format = 'ORC')",
     "NOT_SUPPORTED"),
])
def test_a_failing_query_fails_with_its_reason_and_leaves_no_result(cloud: Cloud, sql: str,
                                                                    reason: str) -> None:
    athena, s3 = _client(cloud, "athena"), _client(cloud, "s3")
    ex = _run(athena, sql, ResultConfiguration={"OutputLocation": OUT})
    assert ex["Status"]["State"] == "FAILED"
    assert ex["Status"]["StateChangeReason"].startswith(reason)
    assert ex["Status"]["AthenaError"]["ErrorCategory"] == 2
    bucket, key = ex["ResultConfiguration"]["OutputLocation"].removeprefix("s3://").split("/", 1)
    with pytest.raises(ClientError, match="404|NoSuchKey|Not Found"):
        s3.head_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError, match="did not finish successfully"):
        athena.get_query_results(QueryExecutionId=ex["QueryExecutionId"])


def test_bad_calls_are_invalid_requests(cloud: Cloud) -> None:
    athena = _client(cloud, "athena")
    for call, kwargs, words in [
        (athena.get_query_execution, {"QueryExecutionId": "no-such-id"}, "was not found"),
        (athena.start_query_execution, {"QueryString": "SELECT 1", "ResultConfiguration":
                                        {"OutputLocation": "s3://no-such-bucket/x/"}},
         "no-such-bucket"),
        (athena.start_query_execution, {"QueryString": "SELECT 1", "ResultConfiguration":
                                        {"OutputLocation": "/tmp/x"}}, "s3://"),
        (athena.start_query_execution, {"QueryString": "SELECT 1", "WorkGroup": "nope"},
         "WorkGroup nope"),
    ]:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert err.value.response["Error"]["Code"] == "InvalidRequestException"
        assert words in err.value.response["Error"]["Message"]


def test_stop_cancels_a_running_query(cloud: Cloud) -> None:
    athena = _client(cloud, "athena")
    qid = athena.start_query_execution(
        QueryString="SELECT sum(length(a.id || b.id)) FROM events a, events b",
        ResultConfiguration={"OutputLocation": OUT})["QueryExecutionId"]
    wait_for(lambda: athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
             ["Status"]["State"] == "RUNNING", 20, 0.02, what="the query to run")
    athena.stop_query_execution(QueryExecutionId=qid)
    ex = wait_for(lambda: _done(athena, qid), 20, 0.05, what="the stop")
    assert ex["Status"]["State"] == "CANCELLED"
    assert _run(athena, COUNT)["Status"]["State"] == "SUCCEEDED"  # and it goes on serving


def test_executions_outlive_a_sigkill_of_the_service(cloud: Cloud) -> None:
    athena = _client(cloud, "athena")
    ex = _run(athena, JOIN, ResultConfiguration={"OutputLocation": OUT})
    before = _rows(athena, ex["QueryExecutionId"])
    pid = cloud.stack.pid(cloud.stack.service("athena"))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    out = cloud.cli("stack", "up")
    assert out.returncode == 0, out.stderr
    listed = athena.list_query_executions(WorkGroup="primary", MaxResults=50)
    assert ex["QueryExecutionId"] in listed["QueryExecutionIds"]
    after = athena.batch_get_query_execution(QueryExecutionIds=[ex["QueryExecutionId"]])
    assert after["QueryExecutions"][0]["Status"]["State"] == "SUCCEEDED"
    assert _rows(athena, ex["QueryExecutionId"]) == before


def test_the_catalog_lists_every_lake_table_with_its_columns(cloud: Cloud) -> None:
    athena, glue = _client(cloud, "athena"), _client(cloud, "glue")
    assert [c["CatalogName"] for c in athena.list_data_catalogs()["DataCatalogsSummary"]] == [
        "AwsDataCatalog"]
    assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["tributary"]
    before = {t["Name"] for t in athena.list_table_metadata(
        CatalogName="AwsDataCatalog", DatabaseName="tributary")["TableMetadataList"]}
    assert {"events", "sessions"} <= before and not any(n.startswith("snap_") for n in before)
    meta = athena.get_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="tributary",
                                     TableName="events")["TableMetadata"]
    lake_columns = {c[0] for c in cloud.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'")}
    assert {c["Name"] for c in meta["Columns"]} | {"dt"} >= lake_columns - {"_raw_key",
                                                                          "_content_hash"}
    assert [k["Name"] for k in meta["PartitionKeys"]] == ["dt"]
    cloud.cli("resume", "snapshots")  # the fixture paused every source but datasync
    out = cloud.cli("ingest", "--source", "snapshots", "--wait", "--timeout", "120")
    assert out.returncode == 0, out.stdout[-2000:]
    time.sleep(5)  # the catalog is brought up to date at most every 5 s
    after = {t["Name"] for t in athena.list_table_metadata(
        CatalogName="AwsDataCatalog", DatabaseName="tributary")["TableMetadataList"]}
    assert any(n.startswith("snap_") for n in after - before)
    assert {t["Name"] for t in glue.get_tables(DatabaseName="tributary")["TableList"]} == after
    shown = _run(athena, "SHOW TABLES")
    assert {r[0] for r in _rows(athena, shown["QueryExecutionId"], header=False)} == after
    described = _rows(athena, _run(athena, "DESCRIBE events")["QueryExecutionId"], header=False)
    assert [r[0] for r in described if r[2] == "partition key"] == ["dt"]
