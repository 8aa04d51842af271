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

from tributary.clients import aws_client, pg_shared
from tributary.gcpause import paused_gc
from tributary.load import lake, pages, postgres
from tributary.load.tables import Table, table_for
from tributary.log import get_logger
from tributary.sources.decoders import UndecodableBody, decode
from tributary.sources.paths import NotRecords

log = get_logger("transform")


class BadPage(ValueError):
    """The raw page is not a page of its stream at all (not JSON, no record list, records
    that are not objects)."""


def _arrow(table: Table, columns: dict[str, Any]) -> pa.Table:
    arrays = []
    for c in table.columns:
        values = columns[c.name]
        arrays.append(pa.array(values, type=pa.int64()).cast(c.arrow) if c.is_time
                      else pa.array(values, type=c.arrow))
    return pa.table(arrays, schema=table.arrow_schema)


def _records(body: bytes, key: str, table: Table) -> list[Any]:
    try:
        page = decode(gzip.decompress(body), table.decoder)
    except (OSError, UndecodableBody) as exc:
        raise BadPage(f"{key}: not a gzip {table.decoder.format} page: {exc}") from exc
    try:
        data = table.records.select(page)
    except NotRecords as exc:
        raise BadPage(f"{key}: {exc}") from exc
    if data is None:
        raise BadPage(f"{key}: no record list at {table.records.text!r} in the page")
    return data


def _with_parent(records: list[Any], meta: dict[str, str]) -> list[Any]:
    """A child stream's records with the fields of their parent record (kept beside the raw
    page as its ``parent`` metadata)."""
    if "parent" not in meta:
        return records
    parent = orjson.loads(meta["parent"])
    return [{**r, **parent} if isinstance(r, dict) else r for r in records]


@dataclass
class Staged:
    """A page through step 1. While ``pending``, its lake write (step 2) is still to do, of
    ``rows`` (None: rebuild them from PostgreSQL); ``first_time``: nothing of it can be in the
    lake yet."""

    table: Table
    load_key: str
    result: dict[str, Any]
    pending: bool = False
    rows: pa.Table | None = None
    first_time: bool = False


@dataclass
class Batch:
    """The pages of one invocation: staged one by one, then written to the lake together."""

    staged: dict[str, Staged] = field(default_factory=dict)  # by SQS message id

    def stage(self, record: SQSRecord) -> dict[str, Any]:
        with paused_gc():
            st = stage_page(orjson.loads(record.body))
        if st.pending:
            self.staged[record.message_id] = st
        return st.result

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


def stage_page(msg: dict[str, Any]) -> Staged:
    """Step 1 (a snapshot page: both steps, under its dataset's lock), with the page claimed
    until its step 2 is done."""
    table = table_for(msg["source"], msg["stream"])
    conn = pg_shared()
    postgres.ensure_schema(conn, table)
    load_key = msg.get("load_key") or msg["key"]
    pages.claim(conn, load_key)
    try:
        st = _stage_claimed(conn, table, msg)
    except BaseException:
        conn.rollback()
        pages.release(conn, [load_key])
        raise
    if not st.pending:
        pages.release(conn, [load_key])
    return st


def _stage_claimed(conn: psycopg.Connection[Any], table: Table, msg: dict[str, Any]) -> Staged:
    if not table.snapshot:
        return _load(conn, table, msg)
    # Versions of one dataset apply one at a time, and never an older over a newer one.
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (table.name,))
    try:
        st = _load(conn, table, msg)
        if st.pending:
            _finish(conn, [st])
            st.pending = False
        return st
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (table.name,))
        conn.commit()


def finish_pages(conn: psycopg.Connection[Any], staged: list[Staged]) -> None:
    """Step 2 for staged pages of one table; the pages are let go, done or not."""
    try:
        _finish(conn, staged)
    except BaseException:
        conn.rollback()
        raise
    finally:
        pages.release(conn, [p.load_key for p in staged])


def _finish(conn: psycopg.Connection[Any], staged: list[Staged]) -> None:
    """The lake write, then the pages marked done."""
    table, the_lake = staged[0].table, lake.Lake.from_env()
    if table.snapshot:
        keys = {p.load_key: lake.write_page(the_lake, conn, table, p.load_key, p.rows,
                                            p.first_time) for p in staged}
    else:
        keys = lake.write_pages(the_lake, conn, table, {p.load_key: p.rows for p in staged},
                                first_time=all(p.first_time for p in staged))
    conn.commit()  # a rebuild's read opened a transaction: the block below would be a savepoint
    pages.mark_lake_done(conn, keys)


def _stale(conn: psycopg.Connection[Any], msg: dict[str, Any]) -> bool:
    """A snapshot fetched before the one already applied (SQS does not keep order)."""
    newest = pages.newest_fetch(conn, msg["source"], msg["stream"])
    return newest is not None and newest > msg.get("fetched_at", 0)


def _load(conn: psycopg.Connection[Any], table: Table, msg: dict[str, Any]) -> Staged:
    """``load_key`` (a replay of a page's rejects) names this load in ``load_log``, in the
    rows' ``_raw_key`` and as the lake transaction; ``key`` is the raw page it reads."""
    key = msg["key"]
    load_key = msg.get("load_key") or key
    state = pages.lake_done(conn, load_key)
    if state:
        return Staged(table, load_key, {"key": load_key, "skipped": "already loaded"})
    if state is False:  # died before the lake write
        return Staged(table, load_key, {"key": load_key, "rebuilt_lake": True}, pending=True)
    raw = aws_client("s3").get_object(Bucket=msg["bucket"], Key=key)
    records = _with_parent(_records(raw["Body"].read(), key, table), raw.get("Metadata", {}))
    # A replay reads again only the records the page had rejected, so it cannot roll back a
    # row that a later page changed.
    picked = [i for i in pages.rejected_indices(conn, key) if i < len(records)] \
        if load_key != key else list(range(len(records)))
    picked = [i for i in picked if table.loads(records[i])]  # the declared filter
    stale = table.snapshot and _stale(conn, msg)
    norm = table.normalize([] if stale else [table.reshaped(records[i]) for i in picked])
    for r in norm.rejects:
        r.index = picked[r.index]  # the record's place in the raw page
    data = _arrow(table, norm.columns)
    with conn.transaction():
        ingested_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        changed = [] if stale else postgres.upsert(conn, table, data, load_key, ingested_at)
        pages.log_load(conn, msg, load_key, len(records), len(changed), norm.rejects)
    result = {"key": load_key, "records": len(picked), "changed": len(changed),
              "rejected": len(norm.rejects)} | ({"skipped": "stale snapshot"} if stale else {})
    return Staged(table, load_key, result, pending=True,
                  rows=_changed_rows(data, table, changed, ingested_at), first_time=True)


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
        _log_failures(processor, lake_failed, event["Records"])
    response = processor.response()
    response["batchItemFailures"] += [{"itemIdentifier": m} for m in lake_failed]
    return response


def _log_failures(processor: BatchProcessor, lake_failed: list[str],
                  records: list[dict[str, Any]]) -> None:
    """Each failed page, in the log and in ``page_failures`` (so ``tributary status`` names
    its stream and error), but a page another worker is loading: that is no failure."""
    failed = {getattr(record, "message_id", None): f"{getattr(kind, '__name__', kind)}: {error}"
              for record, (kind, error, _) in zip(processor.fail_messages,
                                                  processor.exceptions, strict=True)
              if kind is not pages.Busy}
    failed |= {m: "the lake write failed (see the log)" for m in lake_failed}
    for mid, reason in failed.items():
        log.warning("page failed; SQS will deliver it again",
                    extra={"message_id": mid, "error": reason})
    try:
        conn = pg_shared()
        conn.rollback()  # whatever a failed page left open: its own work is undone already
        postgres.ensure_common(conn)
        for raw in records:
            if raw["messageId"] in failed:
                record = SQSRecord(raw)
                msg = orjson.loads(record.body)
                pages.log_failure(conn, msg.get("load_key") or msg["key"], msg["source"],
                                  msg["stream"], failed[raw["messageId"]],
                                  int(record.attributes.approximate_receive_count or 1))
        conn.commit()
    except Exception:  # noqa: BLE001 - SQS redelivers them all the same
        log.exception("could not record the failed pages")
