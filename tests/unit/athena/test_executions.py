"""Executions on disk: found again, listed newest first in pages, unfinished ones known."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.athena.errors import InvalidRequest
from localcloud.athena.executions import QUEUED, RUNNING, SUCCEEDED, Execution, Executions


def _ex(n: int, state: str = SUCCEEDED, workgroup: str = "primary") -> Execution:
    return Execution(id=f"q{n}", query="SELECT 1", workgroup=workgroup, database="tributary",
                     catalog="AwsDataCatalog", output=f"s3://b/q{n}.csv",
                     statement_type="DML", state=state)


def test_an_execution_is_found_after_reopening(tmp_path: Path) -> None:
    Executions(tmp_path / "x.sqlite").save(_ex(1))
    again = Executions(tmp_path / "x.sqlite").get("q1")
    assert again.state == SUCCEEDED and again.as_api()["Status"]["State"] == SUCCEEDED
    with pytest.raises(InvalidRequest, match="q9 was not found"):
        Executions(tmp_path / "x.sqlite").get("q9")


def test_listing_is_newest_first_and_pages(tmp_path: Path) -> None:
    store = Executions(tmp_path / "x.sqlite")
    for n in range(5):
        store.save(_ex(n))
    store.save(_ex(9, workgroup="other"))
    first, more = store.ids("primary", None, 3)
    assert first == ["q4", "q3", "q2"] and more is not None
    rest, done = store.ids("primary", more, 3)
    assert rest == ["q1", "q0"] and done is None


def test_unfinished_executions_are_known(tmp_path: Path) -> None:
    store = Executions(tmp_path / "x.sqlite")
    store.save(_ex(1, QUEUED))
    store.save(_ex(2, RUNNING))
    store.save(_ex(3))
    assert [e.id for e in store.unfinished()] == ["q1", "q2"]
