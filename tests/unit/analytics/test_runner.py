"""The runner behind ``tributary models run``: which models it leaves out, and what it reads
back from dbt's artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tributary.analytics.runner import ModelsError, dbt_args, lake_sources, read_results, run


def test_the_project_declares_the_lake_tables_its_models_read() -> None:
    assert set(lake_sources(ROOT / "analytics")) == {
        "events", "sessions", "hallow_users", "hallow_content", "hallow_events",
        "webhook_events"}


def test_models_after_a_table_that_has_not_landed_are_excluded() -> None:
    assert dbt_args("build", [], None) == ["build"]
    assert dbt_args("run", ["webhook_events", "sessions"], "marts") == [
        "run", "--select", "marts", "--exclude", "source:lake.webhook_events+",
        "source:lake.sessions+"]


def test_results_say_which_models_went_to_the_lake(tmp_path: Path) -> None:
    export = {"sql": "{{ export_to_lake() }}", "transaction": True, "index": None}
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": {
        "model.tributary.daily": {"config": {"post-hook": [export]}},
        "model.tributary.stg_users": {"config": {"post-hook": []}},
        "test.tributary.unique_stg_users_user_id.abc": {"config": {}}}}))
    (tmp_path / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": "model.tributary.daily", "status": "success", "message": "OK",
         "execution_time": 0.5},
        {"unique_id": "model.tributary.stg_users", "status": "success", "message": None,
         "execution_time": 0.1},
        {"unique_id": "test.tributary.unique_stg_users_user_id.abc", "status": "fail",
         "message": "Got 1 result", "execution_time": 0.1}]}))
    results = read_results(tmp_path)
    assert [(r.kind, r.name, r.status, r.exported) for r in results] == [
        ("model", "daily", "success", True), ("model", "stg_users", "success", False),
        ("test", "unique_stg_users_user_id", "fail", False)]
    assert read_results(tmp_path / "nothing-ran") == []


def test_a_folder_without_a_dbt_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelsError, match="not a dbt project"):
        run(tmp_path, set())
