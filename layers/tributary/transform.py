"""The transform function's work: raw pages -> PostgreSQL and the lake, exactly once.

Order matters for crash safety:
1. per page, one transaction: upsert its rows, its rejects and a ``load_log`` row; commit;
2. the rows each page changed go to the lake, one commit for all the batch's pages of a
   stream (a Delta ``SetTransaction`` per page); then their ``load_log`` rows are marked done.
A redelivered page whose ``load_log`` row is done is acknowledged; one committed but not
done (the function died between 1 and 2) gets its lake rows rebuilt from PostgreSQL, unless
the lake's log shows its transaction already.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from psycopg.types.json import Jsonb

from tributary.clients import aws_client, pg_shared
from tributary.extract.paginators import dig
from tributary.gcpause import paused_gc
from tributary.load import lake, postgres
from tributary.load.tables import Table, table_for
from tributary.log import get_logger

log = get_logger("transform")


class BadPage(ValueError):
    """The raw page is not a page of its stream at all (not JSON, no record list)."""


def _arrow(table: Table, columns: dict[str, Any]) -> pa.Table:
    arrays = []
    for c in table.columns:
        values = columns[c.name]
        arrays.append(pa.array(values, type=pa.int64()).cast(c.arrow) if c.is_time
                      else pa.array(values, type=c.arrow))
    return pa.table(arrays, schema=table.arrow_schema)


def _records(body: bytes, key: str, table: Table) -> list[Any]:
    try:
        page = orjson.loads(gzip.decompress(body))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BadPage(f"{key}: not a gzip JSON page: {exc}") from exc
    data = dig(page, table.records_path)
    if not isinstance(data, list):
        raise BadPage(f"{key}: no record list at {table.records_path!r} in the page")
    return data


@dataclass
class Staged:
    """A page through step 1, its lake rows still to write (None: rebuild from PostgreSQL)."""

    table: Table
    load_key: str
    rows: pa.Table | None
    first_time: bool
    result: dict[str, Any]


@dataclass
class Batch:
    """The pages of one invocation: staged one by one, then written to the lake together."""

    staged: dict[str, Staged] = field(default_factory=dict)  # by SQS message id

    def stage(self, record: SQSRecord) -> dict[str, Any]:
        with paused_gc():
            out = stage_page(orjson.loads(record.body))
        if isinstance(out, Staged):
            self.staged[record.message_id] = out
            return out.result
        return out

    def finish(self) -> list[str]:
        """Step 2 for every staged page; returns the message ids whose lake write failed."""
        failed: list[str] = []
        by_table: dict[str, dict[str, Staged]] = {}
        for mid, st in self.staged.items():
            by_table.setdefault(st.table.name, {})[mid] = st
        for group in by_table.values():
            try:
                finish_pages(pg_shared(), list(group.values()))
            except Exception:  # noqa: BLE001 - those pages are redelivered and rebuilt
                log.exception("lake write failed",
                              extra={"pages": [p.load_key for p in group.values()]})
                failed.extend(group)
        return failed


def stage_page(msg: dict[str, Any]) -> Staged | dict[str, Any]:
    """Step 1 (a snapshot page: both steps, under its dataset's lock), with the page claimed
    until its step 2 is done."""
    table = table_for(msg["source"], msg["stream"])
    conn = pg_shared()
    postgres.ensure_schema(conn, table)
    load_key = msg.get("load_key") or msg["key"]
    _claim(conn, load_key)
    try:
        out = _stage_claimed(conn, table, msg)
    except BaseException:
        conn.rollback()
        _release(conn, [load_key])
        raise
    if not isinstance(out, Staged):
        _release(conn, [load_key])
    return out


def _stage_claimed(conn: psycopg.Connection[Any], table: Table, msg: dict[str, Any]
                   ) -> Staged | dict[str, Any]:
    if not table.snapshot:
        return _load(conn, table, msg)
    # Versions of one dataset apply one at a time, and never an older over a newer one.
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (table.name,))
    try:
        out = _load(conn, table, msg)
        if isinstance(out, Staged):
            _finish(conn, [out])
            return out.result
        return out
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (table.name,))
        conn.commit()


class Busy(RuntimeError):
    """Another worker is loading this page: SQS delivered it again while that one works."""


_PAGE_LOCKS = 1  # the advisory lock class of pages, (1, hashtext(load key))


def _claim(conn: psycopg.Connection[Any], load_key: str) -> None:
    """Hold the page for this worker's session (a dead worker's session lets go). Without
    it, a page delivered again while its first delivery was still loading could go to the
    lake twice: the first delivery appends without reading the log."""
    got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                       (_PAGE_LOCKS, load_key)).fetchone()
    conn.commit()
    if not (got and got[0]):
        raise Busy(f"{load_key}: another worker is loading it; SQS will deliver it again")


def _release(conn: psycopg.Connection[Any], load_keys: list[str]) -> None:
    for key in load_keys:
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_PAGE_LOCKS, key))
    conn.commit()


def finish_pages(conn: psycopg.Connection[Any], pages: list[Staged]) -> None:
    """Step 2 for staged pages of one table; the pages are let go, done or not."""
    try:
        _finish(conn, pages)
    except BaseException:
        conn.rollback()
        raise
    finally:
        _release(conn, [p.load_key for p in pages])


def _finish(conn: psycopg.Connection[Any], pages: list[Staged]) -> None:
    """The lake write, then the pages marked done."""
    table, the_lake = pages[0].table, lake.Lake.from_env()
    if table.snapshot:
        keys = {p.load_key: lake.write_page(the_lake, conn, table, p.load_key, p.rows,
                                            p.first_time) for p in pages}
    else:
        keys = lake.write_pages(the_lake, conn, table, {p.load_key: p.rows for p in pages},
                                first_time=all(p.first_time for p in pages))
    conn.commit()  # a rebuild's read opened a transaction: the block below would be a savepoint
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("UPDATE load_log SET lake_done = true, lake_keys = %s WHERE raw_key = %s",
                        [(k, key) for key, k in keys.items()])


def _stale(conn: psycopg.Connection[Any], table: Table, msg: dict[str, Any]) -> bool:
    """A snapshot fetched before the one already applied (SQS does not keep order)."""
    newest = conn.execute("SELECT max(fetched_at) FROM load_log WHERE source = %s AND "
                          "stream = %s", (msg["source"], msg["stream"])).fetchone()
    return bool(newest and newest[0] is not None and newest[0] > msg.get("fetched_at", 0))


def _replayed(conn: psycopg.Connection[Any], key: str, records: list[Any]) -> list[int]:
    """The page indices of the records this page had rejected: all a replay reads again, so
    it cannot roll back a row that a later page changed."""
    rows = conn.execute("SELECT record_index FROM rejects WHERE raw_key = %s ORDER BY 1",
                        (key,)).fetchall()
    conn.commit()  # the load below runs in a transaction of its own, not a savepoint
    return [i for (i,) in rows if i < len(records)]


def _load(conn: psycopg.Connection[Any], table: Table, msg: dict[str, Any]
          ) -> Staged | dict[str, Any]:
    """``load_key`` (a replay of a page's rejects) names this load in ``load_log``, in the
    rows' ``_raw_key`` and as the lake transaction; ``key`` is the raw page it reads."""
    key, source, stream = msg["key"], msg["source"], msg["stream"]
    load_key = msg.get("load_key") or key
    replay = load_key != key
    s3 = aws_client("s3")
    state = conn.execute("SELECT lake_done FROM load_log WHERE raw_key = %s",
                         (load_key,)).fetchone()
    conn.commit()
    if state and state[0]:
        return {"key": load_key, "skipped": "already loaded"}
    lake_rows: pa.Table | None = None
    if state is None:
        records = _records(s3.get_object(Bucket=msg["bucket"], Key=key)["Body"].read(),
                           key, table)
        picked = _replayed(conn, key, records) if replay else list(range(len(records)))
        stale = table.snapshot and _stale(conn, table, msg)
        norm = table.normalize([] if stale else [records[i] for i in picked])
        for r in norm.rejects:
            r.index = picked[r.index]  # the record's place in the raw page
        data = _arrow(table, norm.columns)
        with conn.transaction():
            ingested_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            changed = [] if stale else postgres.upsert(conn, table, data, load_key, ingested_at)
            if replay:  # the page's rejects become what is still rejected
                conn.execute("DELETE FROM rejects WHERE raw_key = %s", (key,))
                conn.execute("UPDATE load_log SET rejected = %s WHERE raw_key = %s",
                             (len(norm.rejects), key))
            if norm.rejects:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO rejects (raw_key, record_index, source, stream, record_id, "
                        "reason, record) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [(key, r.index, source, stream, r.record_id, r.reason, Jsonb(r.record))
                         for r in norm.rejects])
            # A replay's own row counts no records read and no rejects: the page's row does.
            conn.execute(
                "INSERT INTO load_log (raw_key, source, stream, records, changed, rejected, "
                "fetched_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (load_key, source, stream, 0 if replay else len(records), len(changed),
                 0 if replay else len(norm.rejects), msg.get("fetched_at")))
        lake_rows = _changed_rows(data, table, changed, ingested_at)
        result = {"key": load_key, "records": len(picked), "changed": len(changed),
                  "rejected": len(norm.rejects)} | ({"skipped": "stale snapshot"} if stale else {})
    else:
        result = {"key": load_key, "rebuilt_lake": True}  # died before the lake write
    # First time for this page (no load_log row before): nothing of it can be in the lake yet.
    return Staged(table, load_key, lake_rows, state is None, result)


def _changed_rows(data: pa.Table, table: Table, changed: list[str], at: Any
                  ) -> pa.Table | None:
    """The rows the upsert wrote, for the lake; None (read them back from PostgreSQL) when the
    page holds an id twice: which copy PostgreSQL kept is its choice, and the lake must match."""
    if pc.count_distinct(data[table.key]).as_py() != data.num_rows:
        return None
    rows = data if len(changed) == data.num_rows else data.filter(  # first loads: all of it
        pc.is_in(data[table.key], pa.array(changed, pa.string())))
    return rows.append_column("_ingested_at", pa.array([at] * len(changed),
                                                       pa.timestamp("ms", tz="UTC")))


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    batch = Batch()
    processor = BatchProcessor(event_type=EventType.SQS)
    try:
        with processor(event["Records"], batch.stage, context):
            processor.process()
    finally:  # staged pages are written and let go, even when the batch as a whole failed
        lake_failed = batch.finish()
        _log_failures(processor)
    response = processor.response()
    response["batchItemFailures"] += [{"itemIdentifier": m} for m in lake_failed]
    return response


def _log_failures(processor: BatchProcessor) -> None:
    for record, (kind, error, _) in zip(processor.fail_messages, processor.exceptions,
                                         strict=True):
        reason = f"{getattr(kind, '__name__', kind)}: {error}"
        log.warning("page failed; SQS will deliver it again",
                    extra={"message_id": getattr(record, "message_id", None), "error": reason})
