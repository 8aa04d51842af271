"""What a user's own clients do against the stack, run by a client environment's python
(``tests/integration/clients.py``): it imports only the clients (boto3, PyAthena, awswrangler),
never the project, so the clients' versions are that environment's.

``python user_clients.py <job> <arg>...`` prints the job's result as one JSON document; the
endpoint and credentials come from ``AWS_ENDPOINT_URL`` and the other ``AWS_*`` variables.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

Job = Callable[..., Any]


def _athena_run(athena: Any, sql: str, **kw: Any) -> dict[str, Any]:
    qid = athena.start_query_execution(QueryString=sql, **kw)["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ex: dict[str, Any] = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return ex
        time.sleep(0.05)
    raise TimeoutError(f"query {qid} did not finish in 60 s")


def _athena_rows(athena: Any, qid: str, page_size: int = 1000) -> list[list[str | None]]:
    """Every row through ``NextToken`` paging, the header row included."""
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=qid, PaginationConfig={"PageSize": page_size})
    return [[d.get("VarCharValue") for d in r["Data"]]
            for p in pages for r in p["ResultSet"]["Rows"]]


def boto3_query(sql: str, output: str) -> dict[str, Any]:
    """One query through boto3, as an analyst's script runs it."""
    athena = boto3.client("athena")
    ex = _athena_run(athena, sql, ResultConfiguration={"OutputLocation": output})
    rows = _athena_rows(athena, ex["QueryExecutionId"]) if ex["Status"]["State"] == (
        "SUCCEEDED") else []
    return {"status": ex["Status"], "rows": rows[1:],
            "scanned": ex.get("Statistics", {}).get("DataScannedInBytes")}


def athena_execution(qid: str) -> dict[str, Any]:
    """A query execution's state, read through boto3 (the CLI's query is polled with it)."""
    ex = boto3.client("athena").get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    return {"state": ex["Status"]["State"]}


def dbapi_query(sql: str, output: str) -> dict[str, Any]:
    """One query through PyAthena's cursor, its pandas cursor and awswrangler."""
    import awswrangler as wr
    from pyathena import connect
    from pyathena.pandas.cursor import PandasCursor

    def text(rows: Any) -> list[list[str]]:
        return [[str(v) for v in row] for row in rows]

    region = boto3.session.Session().region_name
    cursor = connect(s3_staging_dir=output, region_name=region, poll_interval=0.05).cursor()
    frame: Any = connect(s3_staging_dir=output, region_name=region, poll_interval=0.05,
                    cursor_class=PandasCursor).cursor().execute(sql).as_pandas()
    wrangled = wr.athena.read_sql_query(sql, database="tributary", ctas_approach=False,
                                        s3_output=output)
    return {"pyathena": text(cursor.execute(sql).fetchall()),
            "pandas": text(frame.itertuples(index=False)),
            "awswrangler": text(wrangled.itertuples(index=False))}


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except ClientError as exc:
        return {"code": exc.response["Error"]["Code"],
                "message": exc.response["Error"].get("Message", ""),
                "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"code": None}


def athena_operations(output: str) -> dict[str, Any]:
    """Every operation the local Athena serves, and its errors, through boto3."""
    athena = boto3.client("athena")
    values = ", ".join(str(i) for i in range(1, 26))
    ex = _athena_run(athena, f"SELECT x FROM (VALUES {values}) AS t(x) ORDER BY x",
                     ResultConfiguration={"OutputLocation": output}, WorkGroup="primary")
    qid = ex["QueryExecutionId"]
    catalog = {"CatalogName": "AwsDataCatalog", "DatabaseName": "tributary"}
    return {
        "state": ex["Status"]["State"],
        "rows": _athena_rows(athena, qid, page_size=7),
        "listed": qid in athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"],
        "batch": [e["QueryExecutionId"] for e in athena.batch_get_query_execution(
            QueryExecutionIds=[qid])["QueryExecutions"]],
        "stopped": athena.stop_query_execution(
            QueryExecutionId=qid)["ResponseMetadata"]["HTTPStatusCode"],
        "workgroup": athena.get_work_group(WorkGroup="primary")["WorkGroup"]["Name"],
        "workgroups": [w["Name"] for w in athena.list_work_groups()["WorkGroups"]],
        "catalogs": [c["CatalogName"] for c in athena.list_data_catalogs()["DataCatalogsSummary"]],
        "catalog": athena.get_data_catalog(Name="AwsDataCatalog")["DataCatalog"]["Name"],
        "databases": [d["Name"] for d in athena.list_databases(
            CatalogName="AwsDataCatalog")["DatabaseList"]],
        "database": athena.get_database(**catalog)["Database"]["Name"],
        "tables": athena.list_table_metadata(**catalog)["TableMetadataList"],
        "errors": {
            "unknown execution": _error(lambda: athena.get_query_execution(
                QueryExecutionId="no-such-id")),
            "too many results": _error(lambda: athena.get_query_results(
                QueryExecutionId=qid, MaxResults=1001)),
            "unknown table": _error(lambda: athena.get_table_metadata(
                TableName="no_such_table", **catalog)),
            "unserved operation": _error(lambda: athena.list_named_queries()),
        },
    }


def services(suffix: str) -> dict[str, Any]:
    """A few representative calls to each service the stack serves, creating only names
    ending in ``suffix`` (so two environments can run against one stack)."""
    s3, sqs, ddb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    events, lam, glue = boto3.client("events"), boto3.client("lambda"), boto3.client("glue")
    secrets = boto3.client("secretsmanager")
    bucket, name = f"user-bucket-{suffix}", f"user-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    ddb.put_item(TableName=name, Item={"k": {"S": "a"}, "v": {"N": "1"}})
    events.put_rule(Name=name, ScheduleExpression="rate(1 hour)", State="ENABLED")
    events.disable_rule(Name=name)
    secrets.create_secret(Name=name, SecretString='{"password": "p"}')
    invoked = lam.invoke(FunctionName="tributary-heartbeat", Payload=b"{}")
    result = {
        "s3": {"body": s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read().decode(),
               "keys": [o["Key"] for o in s3.list_objects_v2(Bucket=bucket,
                                                             Prefix="a/")["Contents"]]},
        "sqs": {"body": received[0]["Body"], "queued": sqs.get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"]},
        "dynamodb": {"item": ddb.get_item(TableName=name, Key={"k": {"S": "a"}})["Item"],
                     "queried": ddb.query(TableName=name, KeyConditionExpression="k = :k",
                                          ExpressionAttributeValues={":k": {"S": "a"}})[
                         "Count"]},
        "events": {"state": events.describe_rule(Name=name)["State"],
                   "fetch rules": sorted(r["Name"] for r in events.list_rules(
                       NamePrefix="tributary-fetch-")["Rules"]) != [],
                   "failed entries": events.put_events(Entries=[{
                       "Source": "user", "DetailType": "t", "Detail": "{}"}])[
                       "FailedEntryCount"]},
        "lambda": {"status": invoked["StatusCode"], "error": invoked.get("FunctionError"),
                   "functions": "tributary-heartbeat" in {
                       f["FunctionName"] for f in lam.list_functions()["Functions"]},
                   "runtime": lam.get_function_configuration(
                       FunctionName="tributary-heartbeat")["Runtime"]},
        "glue": {"databases": [d["Name"] for d in glue.get_databases()["DatabaseList"]],
                 "tables": type(glue.get_tables(DatabaseName="tributary")["TableList"]).__name__},
        "sts": {"account": boto3.client("sts").get_caller_identity()["Account"]},
        "secretsmanager": {"value": secrets.get_secret_value(SecretId=name)["SecretString"]},
        "iam": {"roles": len(boto3.client("iam").list_roles()["Roles"]) > 0},
        "apigatewayv2": {"apis": len(boto3.client("apigatewayv2").get_apis()["Items"]) > 0},
    }
    s3.delete_object(Bucket=bucket, Key="a/b.txt")
    s3.delete_bucket(Bucket=bucket)
    sqs.delete_queue(QueueUrl=queue)
    ddb.delete_table(TableName=name)
    events.delete_rule(Name=name)
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    return result


JOBS: dict[str, Job] = {"boto3-query": boto3_query, "athena-execution": athena_execution,
                        "dbapi-query": dbapi_query, "athena-operations": athena_operations,
                        "services": services}

if __name__ == "__main__":
    print(json.dumps(JOBS[sys.argv[1]](*sys.argv[2:]), default=str))
