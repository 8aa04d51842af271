"""Move batches of kept events to the lake's ``webhook_events`` Delta table.

Files land under ``webhook_events/event_type=<t>/dt=<YYYY-MM-DD>/hour=<HH>/``: the partition
comes from the event's own timestamp in UTC and the validated event type (an enum), never
from free text, so field values cannot steer the key.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from tributary.clients import pg_connect
from tributary.load.lake import Lake
from tributary.load.tables import from_rows
from tributary.settings import get_settings
from tributary.webhook import inbox

TABLE = "webhook_events"
SCHEMA = pa.schema([
    ("event_id", pa.string()), ("user_id", pa.string()), ("event_type", pa.string()),
    ("source", pa.string()), ("occurred_at", pa.timestamp("ms", tz="UTC")),
    ("properties", pa.string()), ("received_at", pa.timestamp("ms", tz="UTC")),
])


def batch_rows(conn: psycopg.Connection[Any], batch: uuid.UUID) -> pa.Table:
    rows = conn.execute(
        "SELECT event_id, user_id, event_type, source, occurred_at, properties::text, "
        "received_at FROM webhook_inbox WHERE batch_id = %s ORDER BY occurred_at, event_id",
        (batch,)).fetchall()
    conn.commit()
    return from_rows(rows, SCHEMA)


def write_batch(lake: Lake, batch: uuid.UUID, data: pa.Table) -> list[str]:
    """Append the batch once (its id is the Delta transaction id), partitioned by type, UTC day
    and hour of each event's own time."""
    if data.num_rows == 0:
        return []
    parts = data.append_column("dt", pc.strftime(data["occurred_at"], format="%Y-%m-%d")) \
        .append_column("hour", pc.strftime(data["occurred_at"], format="%H"))
    lake.append(TABLE, parts, ["event_type", "dt", "hour"], f"webhook-batch-{batch}")
    return [TABLE]


def flush(conn: psycopg.Connection[Any], lake: Lake, *, max_rows: int,
          min_rows: int, min_age_s: float) -> dict[str, int]:
    """Claim what is due, then write every batch not yet flushed (including a dead run's)."""
    inbox.ensure_schema(conn)
    inbox.claim(conn, max_rows, min_rows, min_age_s)
    batches = files = events = 0
    for batch in inbox.unflushed(conn):
        data = batch_rows(conn, batch)
        keys = write_batch(lake, batch, data)
        inbox.mark_flushed(conn, batch, keys)
        batches, files, events = batches + 1, files + len(keys), events + data.num_rows
    return {"batches": batches, "files": files, "events": events}


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """The scheduled flush: whatever is due, by the settings' size and age."""
    s = get_settings()
    with pg_connect() as conn:
        return flush(conn, Lake.from_env(), max_rows=s.webhook_flush_max_rows,
                     min_rows=s.webhook_flush_rows, min_age_s=s.webhook_flush_age_s)
