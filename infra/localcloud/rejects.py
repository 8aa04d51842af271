"""Rejected records: how many per stream and why, where they are, and replaying them.

A reject keeps the record as sent, its reason and the raw page it came from (``rejects``
table), so after a fix (a declaration, a parser) ``replay`` loads them again from the raw
zone: each page with rejects is sent to the transform once more, which re-reads only the
records that page rejected. What is still unreadable stays rejected, with its new reason.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import psycopg

from localcloud.config import emulator_client
from tributary.control.rejects import has_rejects_table
from tributary.load.tables import all_tables
from tributary.settings import Settings


def replay(settings: Settings, conn: psycopg.Connection[Any], sources: set[str] | None
           ) -> list[str]:
    """Send every page with rejects (of ``sources``, or all) to the transform again; returns
    the replays' load keys. Snapshot streams are left out: their next version supersedes."""
    replayable = {(src, stream) for src, stream, table in all_tables()
                  if not table.snapshot and (not sources or src in sources)}
    if not has_rejects_table(conn):
        return []
    pages = [(k, src, st) for k, src, st in conn.execute(
        "SELECT DISTINCT raw_key, source, stream FROM rejects ORDER BY 1").fetchall()
        if (src, st) in replayable]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    messages = [{"bucket": settings.raw_bucket, "key": key, "source": src, "stream": st,
                 "load_key": f"{key}#replay-{stamp}"} for key, src, st in pages]
    sqs = emulator_client("sqs", settings)
    url = sqs.get_queue_url(QueueName="tributary-transform")["QueueUrl"]
    for i in range(0, len(messages), 10):
        batch = messages[i:i + 10]
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": orjson.dumps(m).decode()} for n, m in enumerate(batch)])
    return [m["load_key"] for m in messages]


def replays_done(conn: psycopg.Connection[Any], load_keys: list[str]) -> int:
    """How many of these replays are loaded and in the lake."""
    row = conn.execute("SELECT count(*) FROM load_log WHERE lake_done AND raw_key = ANY(%s)",
                       (load_keys,)).fetchone()
    return int(row[0]) if row else 0
