"""The heartbeat: a small pipeline that proves the whole path end to end.

schedule -> ``emit`` -> raw object in S3 + one SQS message -> ``sink`` -> a PostgreSQL row.
It ingests nothing from any upstream; it exists so an operator can see the stack work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tributary.clients import aws_client, pg_shared
from tributary.log import get_logger
from tributary.settings import get_settings

log = get_logger("heartbeat")
DDL = """
CREATE TABLE IF NOT EXISTS heartbeats (
    id text PRIMARY KEY,
    emitted_at timestamptz NOT NULL,
    raw_key text NOT NULL,
    _ingested_at timestamptz NOT NULL DEFAULT now()
)"""


def emit(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    settings = get_settings()
    now = datetime.now(UTC)
    beat_id = context.aws_request_id
    key = f"source=heartbeat/stream=beats/dt={now:%Y-%m-%d}/{beat_id}.json"
    body = orjson.dumps({"id": beat_id, "emitted_at": now.isoformat(), "trigger": event})
    aws_client("s3").put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    aws_client("sqs").send_message(QueueUrl=settings.heartbeat_queue_url,
                                   MessageBody=orjson.dumps({"bucket": settings.raw_bucket,
                                                             "key": key}).decode())
    log.info("heartbeat emitted", extra={"id": beat_id, "key": key})
    return {"id": beat_id, "key": key}


def _store(record: SQSRecord) -> None:
    ref = orjson.loads(record.body)
    beat = orjson.loads(aws_client("s3").get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"]
                        .read())
    conn = pg_shared()
    with conn.transaction():
        conn.execute(DDL)
        conn.execute(
            "INSERT INTO heartbeats (id, emitted_at, raw_key) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING", (beat["id"], beat["emitted_at"], ref["key"]))


def sink(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=_store, processor=processor,
                                    context=context)


def stored(conn: psycopg.Connection[Any], beat_id: str) -> int | None:
    """How many heartbeats PostgreSQL holds once ``beat_id`` is among them; None before."""
    if conn.execute("SELECT to_regclass('heartbeats')").fetchone() in (None, (None,)):
        return None
    row = conn.execute("SELECT count(*), bool_or(id = %s) FROM heartbeats",
                       (beat_id,)).fetchone()
    return int(row[0]) if row and row[1] else None
