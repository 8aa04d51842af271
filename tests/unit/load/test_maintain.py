"""Lake upkeep: however many commits a table takes, its log and its files stay bounded, no
row is lost or doubled, and a table with nothing to do gets no commit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tests.unit.load.lakes import served_lake
from tributary.load.lake import Lake
from tributary.load.maintain import maintain

RETENTION_S = 1
LOG_BOUND = 10 + 3


@pytest.fixture(scope="module")
def lake() -> Iterator[Lake]:
    with served_lake("upkeep", RETENTION_S) as served:
        yield served


def _keys(lake: Lake, prefix: str) -> list[str]:
    pages = lake.s3_client().get_paginator("list_objects_v2").paginate(
        Bucket=lake.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _counts(lake: Lake, name: str) -> tuple[int, int, int]:
    """(log entries, live data files, data files in the bucket)."""
    table = lake.open(name)
    assert table is not None
    log = [k for k in _keys(lake, f"{name}/_delta_log/") if k.endswith(".json")]
    stored = [k for k in _keys(lake, f"{name}/") if k.endswith(".parquet")
              and "/_delta_log/" not in k]
    return len(log), len(table.file_uris()), len(stored)


def _snapshot(version: int) -> pa.Table:
    return pa.table({"sku": [f"s{i}" for i in range(5)], "price": [version * 10 + i
                                                                  for i in range(5)]})


def test_a_snapshot_table_stays_bounded_however_many_changes(lake: Lake) -> None:
    bounds = []
    for _round in range(2):
        for v in range(25):  # a snapshot replaced whole, as each change of one does
            lake.replace("snap", _snapshot(v))
        assert _counts(lake, "snap")[2] >= 25  # before upkeep: every version's file
        time.sleep(RETENTION_S + 0.2)
        [upkeep] = maintain(lake, ["snap"], small_files=8)
        assert upkeep.error is None and upkeep.vacuumed >= 24
        bounds.append(_counts(lake, "snap"))
    # One live file, no removed one left, and after 25 or 50 changes a log no longer than
    # what follows the checkpoint before the retention (at most a checkpoint interval, 10)
    # and upkeep's own commits: bounded, whatever the number of changes.
    for log, live, stored in bounds:
        assert live == stored == 1 and log <= LOG_BOUND, bounds
    table = lake.open("snap")
    assert table is not None
    assert pa.table(table.to_pyarrow_table()).sort_by("sku").equals(_snapshot(24))


def _page(n: int) -> pa.Table:
    return pa.table({"id": [f"p{n}-{i}" for i in range(3)], "dt": ["2026-12-01"] * 3})


def test_appends_are_compacted_and_a_page_is_still_appended_once(lake: Lake) -> None:
    for n in range(30):
        assert lake.append("events", _page(n), ["dt"], f"page-{n}")
    assert _counts(lake, "events")[1] == 30
    time.sleep(RETENTION_S + 0.2)
    [first] = maintain(lake, ["events"], small_files=8)
    assert (first.files_before, first.files_after) == (30, 1), first
    time.sleep(RETENTION_S + 0.2)
    [second] = maintain(lake, ["events"], small_files=8)  # the files compaction replaced go
    log, live, stored = _counts(lake, "events")
    assert live == stored == 1 and log <= LOG_BOUND, (log, live, stored, second)
    # The log before the checkpoint is gone; the pages' transactions are not.
    assert not lake.append("events", _page(0), ["dt"], "page-0")
    assert lake.append("events", _page(30), ["dt"], "page-30")
    table = lake.open("events")
    assert table is not None
    ids = table.to_pyarrow_table()["id"].to_pylist()
    assert len(ids) == len(set(ids)) == 93


def test_a_table_with_nothing_to_do_gets_no_commit(lake: Lake) -> None:
    lake.append("quiet", _page(1), ["dt"], "quiet-1")
    maintain(lake, ["quiet"], small_files=8)
    table = lake.open("quiet")
    assert table is not None
    version = table.version()
    [again] = maintain(lake, ["quiet"], small_files=8)
    assert again.version == version and again.vacuumed == 0 and not again.checkpointed


def test_a_prefix_that_is_no_table_is_left_alone(lake: Lake) -> None:
    lake.s3_client().put_object(Bucket=lake.bucket, Key="x/0001.csv", Body=b"a\n1\n")
    assert maintain(lake, ["x"], small_files=8) == []
    assert _keys(lake, "x/") == ["x/0001.csv"]
