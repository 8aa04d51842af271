"""DataSync end to end on the embedded stack, with chaos on and a runtime SIGKILL midway."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pyarrow as pa
import pytest

from localcloud.ingest import lake_ids
from simulators.datasync.data import Dataset
from simulators.settings import DatasyncServerSettings
from tests.conftest import ROOT, Cloud, start_cloud, wait_for
from tributary.load import postgres
from tributary.load.tables import table_for
from tributary.normalize.epoch import one_epoch_ms

pytestmark = pytest.mark.integration
CHAOS = {
    "TRIBUTARY_DATASYNC_EVENTS": "20000", "TRIBUTARY_DATASYNC_SESSIONS": "400",
    "TRIBUTARY_DATASYNC_USERS": "50", "TRIBUTARY_DATASYNC_DAYS": "2",
    "TRIBUTARY_DATASYNC_CHAOS_ERROR_RATE": "0.05", "TRIBUTARY_DATASYNC_CHAOS_STALL_RATE": "0.03",
    "TRIBUTARY_DATASYNC_CHAOS_STALL_S": "2", "TRIBUTARY_DATASYNC_REQUEST_TIMEOUT_S": "1",
    "TRIBUTARY_DATASYNC_CHAOS_MISSING_RATE": "0.01",
    "TRIBUTARY_REJECT_THRESHOLD": "0.05",  # the 1% broken events are expected here
    "TRIBUTARY_DATASYNC_CHAOS_DUPLICATE_RATE": "0.2",
    "TRIBUTARY_DATASYNC_EXTRA_TIMESTAMP_FORMATS": "true",
    "TRIBUTARY_DATASYNC_FEED_PAGE_SIZE": "1000", "TRIBUTARY_DATASYNC_PAGE_SIZE": "200",
    "TRIBUTARY_DATASYNC_PARTITION_EVENTS": "4000",
    "TRIBUTARY_FETCH_LEASE_S": "4", "TRIBUTARY_PARAM_TransformVisibilityTimeout": "6",
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("pipeline"), ROOT / "template.yaml", 4650, CHAOS)
    yield c
    c.stack.down()
    mp.undo()


def _loaded_pages(cloud: Cloud) -> int:
    exists = cloud.sql("SELECT to_regclass('load_log')")[0][0]
    return cloud.sql("SELECT count(*) FROM load_log WHERE source = 'datasync'")[0][0] \
        if exists else 0


@pytest.fixture(scope="module")
def ingested(cloud: Cloud) -> subprocess.CompletedProcess[str]:
    """Start an ingestion, SIGKILL the runtime once pages are loading, then finish it."""
    assert cloud.cli("ingest", "--source", "datasync").returncode == 0
    wait_for(lambda: _loaded_pages(cloud) >= 3, 60, every=0.05, what="pages loading")
    runtime = cloud.stack.service("runtime")
    pid = cloud.stack.pid(runtime)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: cloud.stack.pid(runtime) is None, 10, what="the runtime to die")
    killed_at = _loaded_pages(cloud)
    cloud.stack.start(runtime)
    cloud.stack.wait_healthy(runtime, 30)
    done = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "240")
    assert killed_at < _loaded_pages(cloud), "nothing was left to do after the kill"
    return done


def _expected() -> tuple[dict[str, int], dict[str, str]]:
    """From the simulator's own dataset: valid ids with their instant, and the broken ones."""
    data = Dataset(DatasyncServerSettings())
    valid, broken = {}, {}
    for i in range(data.n):
        event = data.event(i)
        missing = {"type", "timestamp", "sessionId"} - set(event)
        if missing:
            broken[event["id"]] = missing.pop()
        else:
            valid[event["id"]] = int(data.ts[i])
    return valid, broken


def test_ingestion_survives_a_runtime_sigkill_and_ends_exact(
        cloud: Cloud, ingested: subprocess.CompletedProcess[str]) -> None:
    assert ingested.returncode == 0, ingested.stdout[-3000:] + ingested.stderr[-3000:]
    assert "summary" in ingested.stdout
    valid, broken = _expected()
    assert broken, "the chaos settings should have broken some events"
    pg = dict(cloud.sql("SELECT id, (extract(epoch FROM occurred_at) * 1000)::bigint "
                          "FROM events"))
    assert pg == valid  # exactly the upstream's valid ids, each at its normalized instant
    rows, distinct = lake_ids(cloud.settings, "events")
    assert (rows, distinct) == (len(valid), len(valid))  # no duplicates in the lake either
    assert cloud.sql("SELECT count(*) FROM sessions")[0][0] == 400
    assert lake_ids(cloud.settings, "sessions") == (400, 400)


def test_without_a_terminal_progress_is_a_stamped_line_per_stream(
        ingested: subprocess.CompletedProcess[str]) -> None:
    """As in CI or `> run.log`: lines while it runs, and whole stream names in the summary."""
    lines = re.findall(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ datasync/events upstream [\d,]+ "
                       r"fetched [\d,]+ transformed [\d,]+ .* records/s [\d,]+ ETA \S+$",
                       ingested.stdout, re.M)
    assert len(lines) >= 2, ingested.stdout[:3000]
    summary = ingested.stdout[ingested.stdout.index("summary"):]
    assert "datasync/events" in summary and "datasync/sessions" in summary
    assert "…" not in summary


def test_malformed_records_land_in_rejects_with_the_reason(
        cloud: Cloud, ingested: subprocess.CompletedProcess[str]) -> None:
    _, broken = _expected()
    rejects = dict(cloud.sql("SELECT DISTINCT record_id, reason FROM rejects "
                               "WHERE stream = 'events'"))
    assert set(rejects) == set(broken)
    for record_id, field in broken.items():
        assert rejects[record_id].startswith(f"{field}: Field required"), rejects[record_id]


def test_every_fetched_timestamp_form_was_seen(cloud: Cloud,
                                               ingested: subprocess.CompletedProcess[str]
                                               ) -> None:
    """The raw zone keeps what the API sent: all five forms occur and normalize alike."""
    s3 = cloud.client("s3")
    key = next(k for k in cloud.keys("tributary-raw", "source=datasync/stream=events/"))
    import gzip

    page = json.loads(gzip.decompress(s3.get_object(Bucket="tributary-raw", Key=key)["Body"]
                                      .read()))
    kinds = set()
    for event in page["data"]:
        ts = event.get("timestamp")
        kinds.add("number" if isinstance(ts, int | float) else
                  "numeric string" if isinstance(ts, str) and ts.replace(".", "").isdigit() else
                  "iso Z" if isinstance(ts, str) and ts.endswith("Z") else "iso offset")
        if ts is not None:
            assert one_epoch_ms(ts) is not None
    assert kinds == {"number", "numeric string", "iso Z", "iso offset"}


def test_reloading_an_unchanged_page_writes_no_rows(cloud: Cloud,
                                                    ingested: subprocess.CompletedProcess[str]
                                                    ) -> None:
    (key, changed), = cloud.sql("SELECT raw_key, changed FROM load_log WHERE stream = 'events'"
                                  " AND changed > 0 ORDER BY raw_key LIMIT 1")
    before = cloud.sql("SELECT count(*), max(_ingested_at) FROM events WHERE _raw_key = %s", key)
    s3, sqs = cloud.client("s3"), cloud.client("sqs")
    copy = key.replace(".json.gz", f"-replay-{uuid.uuid4().hex[:6]}.json.gz")
    s3.copy_object(Bucket="tributary-raw", Key=copy,
                   CopySource={"Bucket": "tributary-raw", "Key": key})
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="tributary-transform")["QueueUrl"],
                     MessageBody=json.dumps({"bucket": "tributary-raw", "key": copy,
                                             "source": "datasync", "stream": "events"}))
    wait_for(lambda: cloud.sql("SELECT lake_done FROM load_log WHERE raw_key = %s", copy)
             == [(True,)], 30, what="the replayed page to load")
    assert cloud.sql("SELECT records > 0, changed, lake_keys FROM load_log WHERE raw_key = %s",
                copy) == [(True, 0, [])]
    assert cloud.sql("SELECT count(*), max(_ingested_at) FROM events WHERE _raw_key = %s",
                key) == before
    assert changed == before[0][0]


def test_status_reports_the_same_figures(cloud: Cloud,
                                         ingested: subprocess.CompletedProcess[str]) -> None:
    out = cloud.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["settled"] is True
    events = status["streams"]["datasync/events"]
    assert events["upstream_total"] == 20000
    assert events["partitions"] == events["partitions_done"] > 1


def test_a_second_run_is_incremental(cloud: Cloud,
                                     ingested: subprocess.CompletedProcess[str]) -> None:
    pages_before = _loaded_pages(cloud)
    again = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "120")
    assert again.returncode == 0, again.stdout[-2000:]
    # Nothing new upstream: the quiet tail of the feed and the top of the sessions listing.
    assert _loaded_pages(cloud) - pages_before <= 3
    assert cloud.sql("SELECT count(*) FROM events")[0][0] == len(_expected()[0])


def test_a_lost_lake_table_is_rebuilt_from_postgres(cloud: Cloud,
                                                   ingested: subprocess.CompletedProcess[str]
                                                   ) -> None:
    """As after an emulator restart: the events table is gone, log and files."""
    s3 = cloud.client("s3")
    for key in cloud.keys("tributary-lake", "events/"):
        s3.delete_object(Bucket="tributary-lake", Key=key)
    assert lake_ids(cloud.settings, "events") == (0, 0)
    pages = cloud.sql("SELECT count(*) FROM load_log WHERE stream = 'events' AND "
                        "cardinality(lake_keys) > 0")[0][0]
    out = cloud.cli("relake")
    assert out.returncode == 0 and f"rebuilt {pages} lake pages" in out.stdout, out.stdout
    again = cloud.cli("relake")  # every page's transaction is in the new log: nothing to do
    assert "rebuilt 0 lake pages" in again.stdout, again.stdout
    valid = len(_expected()[0])
    assert lake_ids(cloud.settings, "events") == (valid, valid)


def _events(ids: list[str], name: str = "first") -> pa.Table:
    table = table_for("datasync", "events")
    rows: dict[str, Sequence[object]] = {c.name: [None] * len(ids) for c in table.columns}
    rows.update(id=ids, session_id=["s"] * len(ids), user_id=["u"] * len(ids),
                type=["click"] * len(ids), name=[name] * len(ids),
                properties=['{"k": "v, \\"quoted\\""}'] * len(ids),
                occurred_at=[1_764_460_800_123] * len(ids))
    return pa.table({c.name: pa.array(rows[c.name], pa.int64()).cast(c.arrow) if c.is_time
                     else pa.array(rows[c.name], c.arrow) for c in table.columns})


def test_an_immutable_stream_keeps_the_first_copy_of_a_record(cloud: Cloud) -> None:
    """Events COPY straight in; a page repeating a loaded record (or one record twice) goes
    the staged way, and every record keeps its first copy."""
    table = replace(table_for("datasync", "events"), name="immutable_probe")
    assert table.immutable
    with psycopg.connect(cloud.settings.pg_dsn.get_secret_value()) as conn:
        postgres.ensure_schema(conn, table)
        at = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)
        loads = [postgres.upsert(conn, table, _events(ids, name), key, at)
                 for ids, name, key in ((["a", "b"], "first", "p1"), (["b", "c"], "second", "p2"),
                                        (["d", "d", "c"], "third", "p3"))]
        conn.commit()
        rows = conn.execute("SELECT id, name, properties->>'k', occurred_at, _raw_key, "
                            "_content_hash, _ingested_at FROM immutable_probe ORDER BY id"
                            ).fetchall()
    assert [sorted(ids) for ids in loads] == [["a", "b"], ["c"], ["d"]]
    stamp = datetime(2025, 11, 30, 0, 0, 0, 123000, tzinfo=UTC)
    assert rows == [("a", "first", 'v, "quoted"', stamp, "p1", "", at),
                    ("b", "first", 'v, "quoted"', stamp, "p1", "", at),
                    ("c", "second", 'v, "quoted"', stamp, "p2", "", at),
                    ("d", "third", 'v, "quoted"', stamp, "p3", "", at)]
