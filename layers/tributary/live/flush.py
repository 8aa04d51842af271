"""Applied changes into the raw zone and the lake, in batches, exactly once.

The change log in PostgreSQL is written first (it is what subscribers read); this copies a
range of it to ``s3://<raw>/source=<s>/stream=<t>/dt=<day>/changes-<first>-<last>.jsonl.gz``
(each upstream message as received, a repair's change as the row it wrote) and appends it to
the lake's ``<table>_changes`` Delta table (transaction id: the range). The range is recorded
before it is written (``flushing_to``), so after a crash the same range is written again at
the same key and the lake skips it: nothing is lost or doubled.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import psycopg
import pyarrow as pa
from psycopg import sql

from tributary.clients import aws_client
from tributary.live.copy import LocalCopy
from tributary.load.lake import Lake, with_day
from tributary.load.tables import MS_UTC
from tributary.settings import get_settings

_SCHEMA = pa.schema([("seq", pa.int64()), ("key", pa.string()), ("op", pa.string()),
                     ("origin", pa.string()), ("time", MS_UTC), ("row", pa.string()),
                     ("old", pa.string()), ("observed_at", MS_UTC), ("applied_at", MS_UTC)])


def _claim_range(conn: psycopg.Connection[Any], copy: LocalCopy, epoch: int,
                 limit: int) -> tuple[int, int] | None:
    with conn.transaction():
        copy.fence(conn, epoch)
        row = conn.execute("SELECT flushing_to, flushed FROM live_fence WHERE stream = %s",
                           (copy.name,)).fetchone()
        flushing_to, flushed = (int(row[0]), int(row[1])) if row else (0, 0)
        if flushing_to > flushed:  # a flush that did not finish: the same range again
            return flushed + 1, flushing_to
        last = min(copy.last_seq(conn), flushed + limit)
        if last <= flushed:
            return None
        conn.execute("UPDATE live_fence SET flushing_to = %s WHERE stream = %s",
                     (last, copy.name))
        return flushed + 1, last


def flush(conn: psycopg.Connection[Any], copy: LocalCopy, source: str, epoch: int,
          limit: int = 100_000) -> int:
    """Write the next unflushed range; returns how many changes it held."""
    span = _claim_range(conn, copy, epoch, limit)
    if span is None:
        return 0
    first, last = span
    rows = conn.execute(sql.SQL(
        "SELECT seq, key::text, op, origin, time, row::text, old::text, observed_at, applied_at,"
        " message FROM {log} WHERE seq BETWEEN %s AND %s ORDER BY seq").format(
        log=sql.Identifier(copy.s.changes_table)), (first, last)).fetchall()
    conn.commit()
    if rows:
        day = rows[0][8].strftime("%Y-%m-%d")
        key = (f"source={source}/stream={copy.s.name}/dt={day}/"
               f"changes-{first:012d}-{last:012d}.jsonl.gz")
        lines = b"".join(orjson.dumps({"seq": r[0], "op": r[2], "origin": r[3],
                                       "applied_at": r[8].isoformat(),
                                       "message": r[9] if r[9] is not None else
                                       orjson.loads(r[5])}) + b"\n" for r in rows)
        aws_client("s3").put_object(Bucket=get_settings().raw_bucket, Key=key,
                                    Body=gzip.compress(lines, 1), ContentEncoding="gzip",
                                    ContentType="application/x-ndjson")
        data = pa.table(list(zip(*[r[:9] for r in rows], strict=True)), schema=_SCHEMA)
        Lake.from_env().append(copy.s.changes_table, with_day(data, "applied_at"), ["dt"],
                               f"{copy.s.changes_table}:{first}-{last}")
    with conn.transaction():
        conn.execute("UPDATE live_fence SET flushed = greatest(flushed, %s) WHERE stream = %s",
                     (last, copy.name))
    return len(rows)
