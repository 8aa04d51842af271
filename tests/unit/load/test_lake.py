"""The lake's append: many pages in one Delta commit, each page's transaction once."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from tests.unit.load.lakes import served_lake
from tributary.load.lake import Lake


@pytest.fixture(scope="module")
def lake() -> Iterator[Lake]:
    with served_lake("lake") as served:
        yield served


def _page(ids: list[str]) -> pa.Table:
    return pa.table({"id": ids, "dt": ["2026-11-30"] * len(ids)})


def _rows(lake: Lake, name: str) -> list[str]:
    table = DeltaTable(lake.uri(name), storage_options=lake.options)
    return sorted(table.to_pyarrow_table()["id"].to_pylist())


def test_pages_share_one_commit_and_each_is_recorded(lake: Lake) -> None:
    written = lake.append_many("events", {"p1": _page(["a", "b"]), "p2": _page(["c"]),
                                          "p3": _page([])}, ["dt"], first_time=True)
    assert written == ["p1", "p2"]  # the empty page makes no transaction
    table = DeltaTable(lake.uri("events"), storage_options=lake.options)
    assert table.version() == 0  # one commit for both pages
    assert table.transaction_version("p1") == table.transaction_version("p2") == 1
    assert table.transaction_version("p3") is None
    assert _rows(lake, "events") == ["a", "b", "c"]


def test_a_redelivered_batch_writes_only_the_pages_not_committed(lake: Lake) -> None:
    lake.append_many("retry", {"p1": _page(["a"])}, ["dt"], first_time=True)
    # The batch is regrouped on redelivery: p1 was committed before, p2 was not.
    written = lake.append_many("retry", {"p1": _page(["a"]), "p2": _page(["b"])}, ["dt"])
    assert written == ["p2"]
    assert lake.append_many("retry", {"p1": _page(["a"]), "p2": _page(["b"])}, ["dt"]) == []
    assert _rows(lake, "retry") == ["a", "b"]


def test_replace_keeps_one_current_copy_and_checkpoints_often(lake: Lake) -> None:
    for version in range(3):
        lake.replace("snap", _page([f"v{version}a", f"v{version}b"]))
    table = DeltaTable(lake.uri("snap"), storage_options=lake.options)
    assert table.metadata().configuration["delta.checkpointInterval"] == "10"
    assert table.version() == 2
    assert _rows(lake, "snap") == ["v2a", "v2b"]
