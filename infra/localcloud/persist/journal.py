"""DynamoDB, EventBridge, SQS queue definitions and Secrets Manager kept as a journal of the
calls that changed them: each successful mutating call is appended (before the client is
answered) and the journal is replayed through moto at start. It is then rewritten as a
snapshot (queues with their settings, rules with their state and targets, tables and their
items, secrets with their current value), so the journal stays as long as the state, not as
its history. (A rotated OAuth2 refresh token lives in Secrets Manager: the only one that
works, it must outlive a restart of the stack.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from werkzeug.test import Client

from localcloud.persist.store import StateStore

WsgiApp = Callable[..., Iterable[bytes]]
MUTATING = {
    "dynamodb": {"CreateTable", "DeleteTable", "UpdateTable", "PutItem", "UpdateItem",
                 "DeleteItem", "BatchWriteItem", "TransactWriteItems", "UpdateTimeToLive"},
    "events": {"PutRule", "DeleteRule", "EnableRule", "DisableRule", "PutTargets",
               "RemoveTargets"},
    "sqs": {"CreateQueue", "DeleteQueue", "SetQueueAttributes"},
    "secretsmanager": {"CreateSecret", "PutSecretValue", "UpdateSecret", "DeleteSecret",
                       "RestoreSecret", "TagResource", "UntagResource"},
}
_CONTENT = {"dynamodb": "application/x-amz-json-1.0"}
_PREFIX = {"dynamodb": "DynamoDB_20120810", "events": "AWSEvents", "sqs": "AmazonSQS",
           "secretsmanager": "secretsmanager"}


def scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, region) from the request's SigV4 credential scope."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        parts = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(parts) >= 5:
            return parts[3], parts[2]
    return "", ""


def journaled(service: str, target: str) -> bool:
    return target.rsplit(".", 1)[-1] in MUTATING.get(service, set())


def call(client: Client, service: str, region: str, operation: str, body: bytes) -> Any:
    resp = client.post("/", data=body, headers={
        "X-Amz-Target": f"{_PREFIX[service]}.{operation}",
        "Content-Type": _CONTENT.get(service, "application/x-amz-json-1.1"),
        "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/"
                         "aws4_request, SignedHeaders=host, Signature=0"})
    if resp.status_code >= 300:
        raise RuntimeError(f"{service} {operation} replay failed ({resp.status_code}): "
                           f"{resp.get_data(as_text=True)[:300]}")
    return orjson.loads(resp.get_data()) if resp.get_data() else {}


def replay(app: WsgiApp, store: StateStore) -> int:
    client = Client(app)
    entries = store.journal()
    for where, target, body in entries:
        service, region = where.split("@")
        call(client, service, region, target.rsplit(".", 1)[-1], body)
    return len(entries)


def _tables(client: Client, region: str) -> list[tuple[str, str, bytes]]:
    """DynamoDB in ``region`` as calls that rebuild it: create each table, put its items."""
    out: list[tuple[str, str, bytes]] = []
    where = f"dynamodb@{region}"
    for name in call(client, "dynamodb", region, "ListTables", b"{}").get("TableNames", []):
        desc = call(client, "dynamodb", region, "DescribeTable",
                    orjson.dumps({"TableName": name}))["Table"]
        create: dict[str, Any] = {
            "TableName": name, "KeySchema": desc["KeySchema"],
            "AttributeDefinitions": desc["AttributeDefinitions"],
            "BillingMode": desc.get("BillingModeSummary", {}).get("BillingMode",
                                                                  "PAY_PER_REQUEST")}
        if desc.get("GlobalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = [
                {k: g[k] for k in ("IndexName", "KeySchema", "Projection")}
                for g in desc["GlobalSecondaryIndexes"]]
        out.append((where, "CreateTable", orjson.dumps(create)))
        ttl = call(client, "dynamodb", region, "DescribeTimeToLive",
                   orjson.dumps({"TableName": name})).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") == "ENABLED":
            out.append((where, "UpdateTimeToLive", orjson.dumps({
                "TableName": name, "TimeToLiveSpecification": {
                    "Enabled": True, "AttributeName": ttl["AttributeName"]}})))
        start: dict[str, Any] | None = None
        while True:
            page = call(client, "dynamodb", region, "Scan", orjson.dumps(
                {"TableName": name} | ({"ExclusiveStartKey": start} if start else {})))
            items = page.get("Items", [])
            for i in range(0, len(items), 25):
                out.append((where, "BatchWriteItem", orjson.dumps({"RequestItems": {
                    name: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}})))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    return out


_QUEUE_SETTINGS = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
                   "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "VisibilityTimeout",
                   "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
                   "FifoThroughputLimit", "RedriveAllowPolicy")
_RULE_FIELDS = ("Name", "ScheduleExpression", "EventPattern", "State", "Description",
                "RoleArn", "EventBusName")


def _queues(client: Client, region: str) -> list[tuple[str, str, bytes]]:
    """SQS in ``region`` as calls that rebuild its queues (dead-letter queues first)."""
    where, out = f"sqs@{region}", []
    for url in call(client, "sqs", region, "ListQueues", b"{}").get("QueueUrls", []):
        attrs = call(client, "sqs", region, "GetQueueAttributes", orjson.dumps(
            {"QueueUrl": url, "AttributeNames": ["All"]})).get("Attributes", {})
        keep = {k: v for k, v in attrs.items() if k in _QUEUE_SETTINGS}
        out.append(("RedrivePolicy" in keep, (where, "CreateQueue", orjson.dumps(
            {"QueueName": url.rsplit("/", 1)[-1], "Attributes": keep}))))
    return [entry for _, entry in sorted(out, key=lambda e: e[0])]


def _rules(client: Client, region: str) -> list[tuple[str, str, bytes]]:
    """EventBridge in ``region`` as calls that rebuild its rules, their state and targets."""
    where, out = f"events@{region}", []
    token: str | None = None
    while True:
        page = call(client, "events", region, "ListRules",
                    orjson.dumps({"NextToken": token} if token else {}))
        for rule in page.get("Rules", []):
            out.append((where, "PutRule", orjson.dumps(
                {k: rule[k] for k in _RULE_FIELDS if rule.get(k) is not None})))
            targets = call(client, "events", region, "ListTargetsByRule", orjson.dumps(
                {"Rule": rule["Name"]})).get("Targets", [])
            if targets:
                out.append((where, "PutTargets", orjson.dumps(
                    {"Rule": rule["Name"], "Targets": targets})))
        token = page.get("NextToken")
        if not token:
            return out


def _secrets(client: Client, region: str) -> list[tuple[str, str, bytes]]:
    """Secrets Manager in ``region`` as calls that rebuild each secret with its current value
    (earlier versions, and secrets scheduled for deletion, are not kept)."""
    where, out = f"secretsmanager@{region}", []
    token: str | None = None
    while True:
        page = call(client, "secretsmanager", region, "ListSecrets",
                    orjson.dumps({"NextToken": token} if token else {}))
        for secret in page.get("SecretList", []):
            value = call(client, "secretsmanager", region, "GetSecretValue",
                         orjson.dumps({"SecretId": secret["Name"]}))
            create = {"Name": secret["Name"]} | {
                k: v for k, v in (("Description", secret.get("Description")),
                                  ("Tags", secret.get("Tags")),
                                  ("SecretString", value.get("SecretString")),
                                  ("SecretBinary", value.get("SecretBinary"))) if v}
            out.append((where, "CreateSecret", orjson.dumps(create)))
        token = page.get("NextToken")
        if not token:
            return out


def compact(app: WsgiApp, store: StateStore) -> int:
    """Rewrite the journal as a snapshot of what it built: queues, rules, tables and secrets
    as they are, so it grows with the state, not with every deploy and write that led there."""
    entries = store.journal()
    regions = {service: sorted({w.split("@")[1] for w, _, _ in entries
                                if w.startswith(f"{service}@")})
               for service in ("sqs", "events", "dynamodb", "secretsmanager")}
    client = Client(app)
    snapshot = [*(e for r in regions["sqs"] for e in _queues(client, r)),
                *(e for r in regions["events"] for e in _rules(client, r)),
                *(e for r in regions["dynamodb"] for e in _tables(client, r)),
                *(e for r in regions["secretsmanager"] for e in _secrets(client, r))]
    store.rewrite_journal(snapshot)
    return len(snapshot)
