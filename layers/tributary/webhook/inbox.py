"""The inbox: pushed events made durable and unique in PostgreSQL before they are acknowledged.

``event_id`` is the primary key, so a redelivered event is acknowledged but kept once, across
requests and restarts. The flusher moves events to the lake in batches: it first assigns
waiting events to a batch (committed), then writes that batch's files at keys derived from the
batch id, then marks it flushed. A flusher that dies in between rewrites the same batch to the
same keys, so every acknowledged event reaches the lake exactly once.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import psycopg

from tributary.webhook.models import PushedEvent

DDL = """
CREATE TABLE IF NOT EXISTS webhook_inbox (
    event_id text COLLATE "C" PRIMARY KEY,
    event_type text NOT NULL,
    user_id text NOT NULL,
    source text NOT NULL,
    occurred_at timestamptz NOT NULL,
    properties jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    batch_id uuid
);
CREATE INDEX IF NOT EXISTS webhook_inbox_waiting ON webhook_inbox (received_at)
    WHERE batch_id IS NULL;
CREATE TABLE IF NOT EXISTS webhook_batches (
    batch_id uuid PRIMARY KEY,
    events integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    flushed_at timestamptz,
    lake_keys text[]
);
"""
_ready = False


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    global _ready
    if _ready:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tributary-ddl'))")
        conn.execute(DDL)
    _ready = True


def keep(conn: psycopg.Connection[Any], events: list[PushedEvent]) -> int:
    """Store events not seen before (one transaction); returns how many were new."""
    if not events:
        return 0
    rows = [(e.event_id, e.event_type, e.user_id, e.source, e.utc,
             orjson.dumps(e.properties).decode()) for e in events]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO webhook_inbox (event_id, event_type, user_id, source, occurred_at, "
            "properties) VALUES (%s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (event_id) DO NOTHING",
            rows, returning=False)
        return cur.rowcount if cur.rowcount >= 0 else 0


def claim(conn: psycopg.Connection[Any], max_rows: int, min_rows: int, min_age_s: float
          ) -> uuid.UUID | None:
    """Put waiting events into a new batch when enough wait, or the oldest waited long enough."""
    with conn.transaction():
        waiting, age = conn.execute(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0) "
            "FROM webhook_inbox WHERE batch_id IS NULL").fetchone()  # type: ignore[misc]
        if waiting == 0 or (waiting < min_rows and age < min_age_s):
            return None
        batch = uuid.uuid4()
        claimed = conn.execute(
            "UPDATE webhook_inbox SET batch_id = %s WHERE event_id IN (SELECT event_id FROM "
            "webhook_inbox WHERE batch_id IS NULL ORDER BY received_at LIMIT %s "
            "FOR UPDATE SKIP LOCKED)", (batch, max_rows)).rowcount
        conn.execute("INSERT INTO webhook_batches (batch_id, events) VALUES (%s, %s)",
                     (batch, claimed))
        return batch


def unflushed(conn: psycopg.Connection[Any]) -> list[uuid.UUID]:
    rows = conn.execute("SELECT batch_id FROM webhook_batches WHERE flushed_at IS NULL "
                        "ORDER BY created_at").fetchall()
    conn.commit()
    return [r[0] for r in rows]


def mark_flushed(conn: psycopg.Connection[Any], batch: uuid.UUID, keys: list[str]) -> None:
    with conn.transaction():
        conn.execute("UPDATE webhook_batches SET flushed_at = now(), lake_keys = %s "
                     "WHERE batch_id = %s", (keys, batch))
