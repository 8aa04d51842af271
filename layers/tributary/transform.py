"""The transform function's work: one raw page -> PostgreSQL and the lake, exactly once.

Order matters for crash safety:
1. one transaction: upsert the page's rows, its rejects and a ``load_log`` row; commit;
2. write the lake file(s) of the rows that changed; mark the ``load_log`` row done.
A redelivered page whose ``load_log`` row is done is acknowledged; one committed but not
done (the function died between 1 and 2) gets its lake file rebuilt from PostgreSQL.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from psycopg.types.json import Jsonb

from tributary.clients import aws_client, pg_shared
from tributary.gcpause import paused_gc
from tributary.load import lake, postgres
from tributary.load.tables import Table, table_for
from tributary.log import get_logger
from tributary.settings import get_settings

log = get_logger("transform")
class BadPage(ValueError):
    """The raw page is not a DataSync page at all (not JSON, no ``data`` list)."""


def _arrow(table: Table, columns: dict[str, Any]) -> pa.Table:
    arrays = []
    for c in table.columns:
        values = columns[c.name]
        arrays.append(pa.array(values, type=pa.int64()).cast(c.arrow) if c.is_time
                      else pa.array(values, type=c.arrow))
    return pa.table(arrays, schema=table.arrow_schema)


def _records(body: bytes, key: str) -> list[Any]:
    try:
        page = orjson.loads(gzip.decompress(body))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BadPage(f"{key}: not a gzip JSON page: {exc}") from exc
    data = page.get("data") if isinstance(page, dict) else None
    if not isinstance(data, list):
        raise BadPage(f"{key}: no 'data' list in the page")
    return data


def load_page(msg: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    key, source, stream = msg["key"], msg["source"], msg["stream"]
    table = table_for(source, stream)
    conn = pg_shared()
    postgres.ensure_schema(conn, table)
    s3 = aws_client("s3")
    state = conn.execute("SELECT lake_done FROM load_log WHERE raw_key = %s", (key,)).fetchone()
    conn.commit()
    if state and state[0]:
        return {"key": key, "skipped": "already loaded"}
    if state is None:
        records = _records(s3.get_object(Bucket=msg["bucket"], Key=key)["Body"].read(), key)
        norm = table.normalize(records)
        data = _arrow(table, norm.columns)
        with conn.transaction():
            ingested_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            changed = postgres.upsert(conn, table, data, key, ingested_at)
            if norm.rejects:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO rejects (raw_key, record_index, source, stream, record_id, "
                        "reason, record) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [(key, r.index, source, stream, r.record_id, r.reason, Jsonb(r.record))
                         for r in norm.rejects])
            conn.execute(
                "INSERT INTO load_log (raw_key, source, stream, records, changed, rejected) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key, source, stream, len(records), len(changed), len(norm.rejects)))
        lake_rows = data.filter(pc.is_in(data["id"], pa.array(changed, pa.string()))) \
            .append_column("_ingested_at", pa.array([ingested_at] * len(changed),
                                                    pa.timestamp("ms", tz="UTC")))
        result = {"key": key, "records": len(records), "changed": len(changed),
                  "rejected": len(norm.rejects)}
    else:
        lake_rows = postgres.rows_of_page(conn, table, key)  # died before the lake write
        result = {"key": key, "rebuilt_lake_rows": lake_rows.num_rows}
    keys = lake.write(s3, settings.lake_bucket, table, lake_rows, key)
    with conn.transaction():
        conn.execute("UPDATE load_log SET lake_done = true, lake_keys = %s WHERE raw_key = %s",
                     (keys, key))
    return result


def _record(record: SQSRecord) -> dict[str, Any]:
    with paused_gc():
        return load_page(orjson.loads(record.body))


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=_record, processor=processor,
                                    context=context)
