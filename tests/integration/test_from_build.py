"""What ships is what runs: the real template built by ``tributary build`` (zip functions
with their layer on Python 3.13, the data functions as container images), on a stack that
runs nothing but those artifacts (``stack up --from-build``)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ROOT, Cloud, build, start_cloud, wait_for

BASE = 4890
ENV = {"TRIBUTARY_DATASYNC_EVENTS": "20000", "TRIBUTARY_HALLOW_PUSH": "false",
       "TRIBUTARY_RUNTIME_FROM_BUILD": "true", "TRIBUTARY_SCHEDULE_SCALE": "0.1",
       "TRIBUTARY_WEBHOOK_FLUSH_AGE_S": "0"}  # a flush takes whatever waits

pytestmark = pytest.mark.needs("podman", "runc", "debootstrap")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("shipped")
    report = build(home, ROOT / "template.yaml")
    cloud, mp = start_cloud(home, ROOT / "template.yaml", BASE, ENV,
                            polling=frozenset({"datasync", "timeline"}))
    yield cloud, report
    cloud.stack.down()
    mp.undo()


def _sql(cloud: Cloud, sql: str) -> list[list[Any]]:
    resp = httpx.post(f"{cloud.settings.runtime_url}/query", json={"sql": sql},
                      headers=cloud.auth, timeout=60)
    assert resp.status_code == 200, resp.text
    rows: list[list[Any]] = resp.json()["rows"]
    return rows


def test_every_artifact_fits_lambda_and_loads_inside_itself(
        shipped: tuple[Cloud, dict[str, Any]]) -> None:
    cloud, report = shipped
    kinds = {a["function"]: a["package_type"] for a in report["artifacts"]}
    assert kinds["tributary-fetch"] == "Zip" and kinds["tributary-transform"] == "Image"
    for a in report["artifacts"]:
        assert a["fits"] and a["loads"], a
        assert a["unzipped_mb"] <= (250 if a["package_type"] == "Zip" else 10_240), a
    health = httpx.get(f"{cloud.settings.runtime_url}/_runtime/health").json()
    assert health["from_build"] is True


def test_datasync_lands_exact_through_the_built_functions(
        shipped: tuple[Cloud, dict[str, Any]]) -> None:
    cloud, _ = shipped
    out = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "400", timeout=500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert cloud.sql("SELECT count(*), count(DISTINCT id) FROM events")[0] == (20_000, 20_000)
    assert _sql(cloud, "SELECT count(*), count(DISTINCT id) FROM events") == [[20_000, 20_000]]
    running = subprocess.run(["podman", "ps", "--format", "{{.Image}}"], capture_output=True,
                             text=True, check=True).stdout
    assert "transformfunction" in running  # the transform ran in its container


def test_a_webhook_batch_lands_in_the_lake(shipped: tuple[Cloud, dict[str, Any]]) -> None:
    cloud, _ = shipped
    ids = [f"shipped-{uuid.uuid4()}" for _ in range(5)]
    body = orjson.dumps({"events": [
        {"event_id": i, "user_id": "user_1", "event_type": "view", "source": "web",
         "timestamp": "2026-11-22T09:15:00.000Z", "properties": {"content_id": "content_1"}}
        for i in ids]})
    resp = httpx.post(f"{cloud.settings.runtime_url}/webhook/events", content=body,
                      headers={"content-type": "application/json"}, timeout=30)
    assert resp.status_code == 200, resp.text
    flushed = cloud.client("lambda").invoke(FunctionName="tributary-webhook-flush",
                                            Payload=b"{}")
    assert "FunctionError" not in flushed, flushed["Payload"].read()
    listed = ", ".join(f"'{i}'" for i in ids)
    found = wait_for(lambda: _sql(cloud, "SELECT count(*) FROM webhook_events WHERE "
                                  f"event_id IN ({listed})") == [[5]], 60,
                     what="the batch in the lake")
    assert found


def test_the_live_rows_api_answers_from_its_container(
        shipped: tuple[Cloud, dict[str, Any]]) -> None:
    cloud, _ = shipped
    api = f"{cloud.settings.runtime_url}/live/rows"

    def rows() -> list[Any]:
        resp = httpx.get(api, params={"t": 0}, headers=cloud.auth, timeout=30)
        if resp.status_code == 503:  # its holder has not made the copy yet
            return []
        assert resp.status_code == 200, resp.text
        found: list[Any] = resp.json()["rows"]
        return found
    assert wait_for(rows, 120, every=2, what="the live copy's first rows")
