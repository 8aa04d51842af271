"""Rejected records: how many per stream and why, where they are, and replaying them.

A reject keeps the record as sent, its reason and the raw page it came from (``rejects``
table), so after a fix (a declaration, a parser) ``replay`` loads them again from the raw
zone: each page with rejects is sent to the transform once more, which re-reads only the
records that page rejected. What is still unreadable stays rejected, with its new reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from localcloud.config import emulator_client
from tributary.load.tables import all_tables
from tributary.settings import Settings

# A reason reads "<field>: <problem> (got <value>)"; reasons are counted without the value.
_PROBLEM = "split_part(split_part(reason, ' (got ', 1), '; ', 1)"


@dataclass
class Reason:
    problem: str
    records: int
    example_key: str  # a raw page holding such a record

    def as_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "records": self.records,
                "example_key": self.example_key}


@dataclass
class StreamRejects:
    stream: str  # "<source>/<stream>"
    rejected: int = 0
    reasons: list[Reason] = field(default_factory=list)


def _has_rejects_table(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT to_regclass('rejects')").fetchone() != (None,)


def by_stream(conn: psycopg.Connection[Any], top: int = 3) -> dict[str, StreamRejects]:
    """Per stream with rejects: how many, and the ``top`` problems, most frequent first."""
    out: dict[str, StreamRejects] = {}
    if not _has_rejects_table(conn):
        return out
    rows = conn.execute(
        f"SELECT source || '/' || stream, {_PROBLEM}, count(*), min(raw_key) FROM rejects "
        "GROUP BY 1, 2 ORDER BY 1, 3 DESC").fetchall()
    for stream, problem, n, key in rows:
        s = out.setdefault(stream, StreamRejects(stream))
        s.rejected += n
        if len(s.reasons) < top:
            s.reasons.append(Reason(problem, n, key))
    return out


def listing(conn: psycopg.Connection[Any], stream: str | None, limit: int
            ) -> list[dict[str, Any]]:
    """The newest rejects (of one ``source/stream``, or all), as rows to print."""
    if not _has_rejects_table(conn):
        return []
    where, params = ("WHERE source || '/' || stream = %s", [stream]) if stream else ("", [])
    cur = conn.execute(
        "SELECT source || '/' || stream AS stream, raw_key, record_index, record_id, reason, "
        f"rejected_at FROM rejects {where} ORDER BY rejected_at DESC, raw_key, record_index "
        "LIMIT %s", [*params, limit])
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def replay(settings: Settings, conn: psycopg.Connection[Any], sources: set[str] | None
           ) -> list[str]:
    """Send every page with rejects (of ``sources``, or all) to the transform again; returns
    the replays' load keys. Snapshot streams are left out: their next version supersedes."""
    replayable = {(src, stream) for src, stream, table in all_tables()
                  if not table.snapshot and (not sources or src in sources)}
    if not _has_rejects_table(conn):
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
