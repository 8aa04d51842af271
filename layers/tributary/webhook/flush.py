"""Move batches of kept events to the lake as Hive-partitioned Parquet.

``webhook_events/event_type=<t>/dt=<YYYY-MM-DD>/hour=<HH>/part-<batch>.parquet``: the partition
comes from the event's own timestamp in UTC and the validated event type (an enum), never
from free text, so field values cannot steer the key.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.load.tables import from_rows
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


def write_batch(s3: Any, bucket: str, batch: uuid.UUID, data: pa.Table) -> list[str]:
    """One file per (event_type, day, hour) present; the same batch always gets the same keys."""
    if data.num_rows == 0:
        return []
    day = pc.strftime(data["occurred_at"], format="%Y-%m-%d")
    hour = pc.strftime(data["occurred_at"], format="%H")
    parts = pa.table({"t": data["event_type"], "d": day, "h": hour}).group_by(
        ["t", "d", "h"]).aggregate([]).to_pylist()
    keys = []
    for p in sorted(parts, key=lambda p: (p["t"], p["d"], p["h"])):
        mask = pc.and_(pc.and_(pc.equal(data["event_type"], p["t"]), pc.equal(day, p["d"])),
                       pc.equal(hour, p["h"]))
        buf = io.BytesIO()  # the partition columns live in the path, as Hive lays them out
        pq.write_table(data.filter(mask).drop_columns(["event_type"]), buf, compression="zstd")
        key = f"{TABLE}/event_type={p['t']}/dt={p['d']}/hour={p['h']}/part-{batch}.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
        keys.append(key)
    return keys


def flush(conn: psycopg.Connection[Any], s3: Any, bucket: str, *, max_rows: int,
          min_rows: int, min_age_s: float) -> dict[str, int]:
    """Claim what is due, then write every batch not yet flushed (including a dead run's)."""
    inbox.ensure_schema(conn)
    inbox.claim(conn, max_rows, min_rows, min_age_s)
    batches = files = events = 0
    for batch in inbox.unflushed(conn):
        data = batch_rows(conn, batch)
        keys = write_batch(s3, bucket, batch, data)
        inbox.mark_flushed(conn, batch, keys)
        batches, files, events = batches + 1, files + len(keys), events + data.num_rows
    return {"batches": batches, "files": files, "events": events}
