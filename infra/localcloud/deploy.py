"""Create every resource the template names in the emulator. Idempotent.

Re-running changes nothing that exists, except to converge configuration (queue attributes,
function settings). A schedule's enabled/disabled state is left as the operator set it, so
a redeploy never resumes a paused source.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localcloud.cfn import ACCOUNT_ID
from localcloud.config import emulator_client
from localcloud.template import DynamoTable, Function, Queue, Template
from tributary.settings import Settings

ROLE_NAME = "tributary-lambda"
_ASSUME = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "lambda.amazonaws.com"}}]}


@dataclass
class DeployReport:
    created: dict[str, list[str]] = field(default_factory=dict)
    existing: dict[str, list[str]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, name: str, created: bool) -> None:
        (self.created if created else self.existing).setdefault(kind, []).append(name)


def _package(fn: Function) -> dict[str, Any]:
    """What the Lambda API is told of a function's package: a zip of its code with its
    runtime and handler, or its image (by the tag ``tributary build`` gives it) and command."""
    if fn.image is None:
        return {"Code": {"ZipFile": _code_zip(fn.code_dir)}, "Handler": fn.handler,
                "Runtime": fn.runtime or "python3.13"}
    return {"PackageType": "Image", "Code": {"ImageUri": image_uri(fn)},
            "ImageConfig": {"Command": [fn.handler]}}


def image_uri(fn: Function) -> str:
    """An image function's image as ``tributary build`` tags it (ECR's form, as SAM names it)."""
    assert fn.image is not None
    return f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/{fn.logical_id.lower()}:{fn.image.tag}"


def _code_zip(code_dir: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(code_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(code_dir))
    return buf.getvalue()


class Deployer:
    def __init__(self, template: Template, settings: Settings) -> None:
        self.t = template
        self.settings = settings
        self.report = DeployReport()
        self.s3, self.sqs, self.ddb, self.lam, self.events, self.iam, self.apigw = (
            emulator_client(s, settings)
            for s in ("s3", "sqs", "dynamodb", "lambda", "events", "iam", "apigatewayv2"))

    def run(self) -> DeployReport:
        for b in self.t.buckets:
            self._bucket(b.name)
        # Dead-letter queues first: a redrive policy needs its target to exist.
        for q in sorted(self.t.queues, key=lambda q: q.dlq_name is not None):
            self._queue(q)
        for table in self.t.tables:
            self._table(table)
        for database in self.t.glue_databases:
            self._glue_database(database)
        role_arn = self._role()
        for fn in self.t.functions:
            self._function(fn, role_arn)
        self._http_api()
        return self.report

    def _bucket(self, name: str) -> None:
        try:
            self.s3.head_bucket(Bucket=name)
            self.report.add("bucket", name, False)
        except ClientError:
            self.s3.create_bucket(Bucket=name)
            self.report.add("bucket", name, True)

    def _glue_database(self, name: str) -> None:
        glue = emulator_client("glue", self.settings)
        try:
            glue.get_database(Name=name)
            self.report.add("glue database", name, False)
        except glue.exceptions.EntityNotFoundException:
            glue.create_database(DatabaseInput={"Name": name})
            self.report.add("glue database", name, True)

    def _queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.settings.region}:123456789012:{name}"

    def _queue(self, q: Queue) -> None:
        attrs = {"VisibilityTimeout": str(q.visibility_timeout_s), **q.attributes}
        if q.dlq_name and q.max_receive_count:
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": self._queue_arn(q.dlq_name),
                                                 "maxReceiveCount": q.max_receive_count})
        try:
            url = self.sqs.get_queue_url(QueueName=q.name)["QueueUrl"]
            settable = {k: v for k, v in attrs.items() if k != "FifoQueue"}
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
            self.report.add("queue", q.name, False)
        except ClientError:
            self.sqs.create_queue(QueueName=q.name, Attributes=attrs)
            self.report.add("queue", q.name, True)

    def _table(self, table: DynamoTable) -> None:
        p = table.properties
        try:
            self.ddb.describe_table(TableName=table.name)
            self.report.add("table", table.name, False)
            return
        except ClientError:
            pass
        args: dict[str, Any] = {
            "TableName": table.name, "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = p["ProvisionedThroughput"]
        if p.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        self.ddb.create_table(**args)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            self.ddb.update_time_to_live(TableName=table.name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        self.report.add("table", table.name, True)

    def _role(self) -> str:
        try:
            arn: str = self.iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        except ClientError:
            arn = self.iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(
                _ASSUME))["Role"]["Arn"]
        return arn

    def _function(self, fn: Function, role_arn: str) -> None:
        config: dict[str, Any] = {
            "Role": role_arn, "Timeout": int(fn.timeout_s), "MemorySize": fn.memory_mb,
            "Environment": {"Variables": fn.environment},
        } | _package(fn)
        create = {k: config.pop(k) for k in ("Code", "PackageType") if k in config}
        try:
            self.lam.get_function(FunctionName=fn.name)
            self.lam.update_function_configuration(FunctionName=fn.name, **config)
            self.report.add("function", fn.name, False)
        except ClientError:
            self.lam.create_function(FunctionName=fn.name, **create, **config)
            self.report.add("function", fn.name, True)
        if fn.reserved_concurrency is not None:
            self.lam.put_function_concurrency(
                FunctionName=fn.name, ReservedConcurrentExecutions=fn.reserved_concurrency)
        if fn.function_url:
            self._function_url(fn)
        for trigger in fn.sqs:
            self._mapping(fn, trigger.queue_name, trigger)
        for schedule in fn.schedules:
            self._rule(fn, schedule.rule_name, schedule.expression, schedule.enabled,
                       schedule.input)

    def _function_url(self, fn: Function) -> None:
        try:
            self.lam.get_function_url_config(FunctionName=fn.name)
            created = False
        except ClientError:
            self.lam.create_function_url_config(FunctionName=fn.name, AuthType="NONE")
            created = True
        self.report.add("function_url", fn.name, created)
        self.report.urls[fn.name] = f"{self.settings.runtime_url}/lambda-url/{fn.name}/"

    def _mapping(self, fn: Function, queue_name: str, trigger: Any) -> None:
        arn = self._queue_arn(queue_name)
        existing = self.lam.list_event_source_mappings(FunctionName=fn.name)["EventSourceMappings"]
        if any(m["EventSourceArn"] == arn for m in existing):
            self.report.add("event_source_mapping", f"{queue_name}->{fn.name}", False)
            return
        args: dict[str, Any] = {
            "EventSourceArn": arn, "FunctionName": fn.name, "BatchSize": trigger.batch_size,
            "Enabled": trigger.enabled,
            "MaximumBatchingWindowInSeconds": int(trigger.batching_window_s),
        }
        if trigger.report_batch_item_failures:
            args["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        self.lam.create_event_source_mapping(**args)
        self.report.add("event_source_mapping", f"{queue_name}->{fn.name}", True)

    def _rule(self, fn: Function, name: str, expression: str, enabled: bool,
              input_json: str | None) -> None:
        try:
            self.events.describe_rule(Name=name)
            created = False
        except ClientError:
            self.events.put_rule(Name=name, ScheduleExpression=expression,
                                 State="ENABLED" if enabled else "DISABLED")
            created = True
        fn_arn = self.lam.get_function(FunctionName=fn.name)["Configuration"]["FunctionArn"]
        target: dict[str, Any] = {"Id": fn.name, "Arn": fn_arn}
        if input_json is not None:
            target["Input"] = input_json
        self.events.put_targets(Rule=name, Targets=[target])
        self.report.add("schedule", name, created)

    def _http_api(self) -> None:
        routes = [(fn, r) for fn in self.t.functions for r in fn.routes]
        if not routes:
            return
        apis = self.apigw.get_apis()["Items"]
        api = next((a for a in apis if a["Name"] == self.t.stack_name), None)
        if api is None:
            api = self.apigw.create_api(Name=self.t.stack_name, ProtocolType="HTTP")
        api_id = api["ApiId"]
        have = {r["RouteKey"] for r in self.apigw.get_routes(ApiId=api_id)["Items"]}
        for fn, r in routes:
            key = f"{r.method} {r.path}"
            if key in have:
                self.report.add("http_route", key, False)
                continue
            integ = self.apigw.create_integration(
                ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
                IntegrationUri=self.lam.get_function(FunctionName=fn.name)["Configuration"][
                    "FunctionArn"])
            self.apigw.create_route(ApiId=api_id, RouteKey=key,
                                    Target=f"integrations/{integ['IntegrationId']}")
            self.report.add("http_route", key, True)
        self.report.urls["http_api"] = self.settings.runtime_url
