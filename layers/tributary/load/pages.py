"""What each raw page did, kept in PostgreSQL beside the rows it loaded.

``load_log`` has a row per load (a page, or a replay of its rejects): records read, rows
changed, records rejected, whether its lake write is done and under which keys. ``rejects``
keeps every rejected record with its reason. ``page_failures`` keeps each page whose load
failed, with its last error and how often SQS delivered it (a page loaded since is over it).
A page is claimed (a session advisory lock) by the worker loading it until its lake write is
done, so one delivered twice at once is loaded once. Tables are made by ``postgres.ensure_schema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tributary.normalize.base import Reject

_PAGE_LOCKS = 1  # the advisory lock class of pages: (1, hashtext(load key))


class Busy(RuntimeError):
    """Another worker is loading this page: SQS delivered it again while that one works."""


def claim(conn: psycopg.Connection[Any], load_key: str) -> None:
    """Hold the page for this worker's session (a dead worker's session lets go). Without
    it, a page delivered again while its first delivery was still loading could go to the
    lake twice: the first delivery appends without reading the log."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                       (_PAGE_LOCKS, load_key)).fetchone()
    conn.commit()
    if not (got and got[0]):
        raise Busy(f"{load_key}: another worker is loading it; SQS will deliver it again")


def log_failure(conn: psycopg.Connection[Any], load_key: str, source: str, stream: str,
                error: str, deliveries: int) -> None:
    conn.execute(
        "INSERT INTO page_failures (raw_key, source, stream, error, attempts) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (raw_key) DO UPDATE SET error = "
        "excluded.error, attempts = greatest(page_failures.attempts + 1, excluded.attempts), "
        "last_at = now()", (load_key, source, stream, error[:2000], deliveries))


def release(conn: psycopg.Connection[Any], load_keys: Sequence[str]) -> None:
    for key in load_keys:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_PAGE_LOCKS, key))
    conn.commit()


def lake_done(conn: psycopg.Connection[Any], load_key: str) -> bool | None:
    """None: never loaded; False: in PostgreSQL, its lake write still to do; True: done."""
    row = conn.execute("SELECT lake_done FROM load_log WHERE raw_key = %s",
                       (load_key,)).fetchone()
    conn.commit()
    return None if row is None else bool(row[0])


def newest_fetch(conn: psycopg.Connection[Any], source: str, stream: str) -> int | None:
    """When the newest page loaded for a stream was fetched (epoch ms)."""
    row = conn.execute("SELECT max(fetched_at) FROM load_log WHERE source = %s AND "
                       "stream = %s", (source, stream)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def rejected_indices(conn: psycopg.Connection[Any], raw_key: str) -> list[int]:
    """The page indices of the records a page had rejected, in page order."""
    rows = conn.execute("SELECT record_index FROM rejects WHERE raw_key = %s ORDER BY 1",
                        (raw_key,)).fetchall()
    conn.commit()  # the load that follows runs in a transaction of its own, not a savepoint
    return [i for (i,) in rows]


def log_load(conn: psycopg.Connection[Any], msg: dict[str, Any], load_key: str, records: int,
             changed: int, rejects: Sequence[Reject]) -> None:
    """A load's rejects and its ``load_log`` row, in the caller's transaction. A replay
    (``load_key`` is not the page's key) replaces the page's rejects with what is still
    rejected, and its own row counts no records read and no rejects: the page's row does."""
    key, source, stream = msg["key"], msg["source"], msg["stream"]
    replay = load_key != key
    if replay:
        conn.execute("DELETE FROM rejects WHERE raw_key = %s", (key,))
        conn.execute("UPDATE load_log SET rejected = %s WHERE raw_key = %s",
                     (len(rejects), key))
    if rejects:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rejects (raw_key, record_index, source, stream, record_id, "
                "reason, record) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(key, r.index, source, stream, r.record_id, r.reason, Jsonb(r.record))
                 for r in rejects])
    conn.execute(
        "INSERT INTO load_log (raw_key, source, stream, records, changed, rejected, "
        "fetched_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (load_key, source, stream, 0 if replay else records, changed,
         0 if replay else len(rejects), msg.get("fetched_at")))


def mark_lake_done(conn: psycopg.Connection[Any], lake_keys: dict[str, list[str]]) -> None:
    """Loads whose lake write committed, with the lake files each wrote, in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("UPDATE load_log SET lake_done = true, lake_keys = %s WHERE raw_key = %s",
                        [(keys, load_key) for load_key, keys in lake_keys.items()])
