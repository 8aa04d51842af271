"""Rejected records, read back: counted per stream with their most frequent problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

# A reason reads "<field>: <problem> (got <value>)"; reasons are counted without the value.
_PROBLEM = "split_part(split_part(reason, ' (got ', 1), '; ', 1)"


@dataclass(frozen=True)
class RejectRate:
    """The records a stream rejected out of those it read. Above ``threshold`` (the setting
    ``reject_threshold``) the stream has failed: loudly wrong, however exact the rest is."""

    rejected: int
    read: int
    threshold: float

    @property
    def share(self) -> float:
        return self.rejected / self.read if self.read else 0.0

    @property
    def too_high(self) -> bool:
        return self.share > self.threshold


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


def has_rejects_table(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT to_regclass('rejects')").fetchone() != (None,)


def by_stream(conn: psycopg.Connection[Any], top: int = 3) -> dict[str, StreamRejects]:
    """Per stream with rejects: how many, and the ``top`` problems, most frequent first."""
    out: dict[str, StreamRejects] = {}
    if not has_rejects_table(conn):
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
    if not has_rejects_table(conn):
        return []
    where, params = ("WHERE source || '/' || stream = %s", [stream]) if stream else ("", [])
    cur = conn.execute(
        "SELECT source || '/' || stream AS stream, raw_key, record_index, record_id, reason, "
        f"rejected_at FROM rejects {where} ORDER BY rejected_at DESC, raw_key, record_index "
        "LIMIT %s", [*params, limit])
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
