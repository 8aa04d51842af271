"""The real template.yaml on the embedded stack: schedule -> function -> S3 -> SQS -> function
-> PostgreSQL, then ``stack down`` stops every process the stack started."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import psutil
import psycopg
import pytest

from tests.conftest import ROOT, Cloud, start_cloud, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    cloud, mp = start_cloud(tmp_path_factory.mktemp("real-cloud"), ROOT / "template.yaml", 4620)
    yield cloud
    cloud.stack.down()
    mp.undo()


def _rows(cloud: Cloud) -> list[tuple[str, str]]:
    with psycopg.connect(cloud.settings.pg_dsn.get_secret_value()) as conn:
        exists = conn.execute("SELECT to_regclass('heartbeats')").fetchone()
        if not exists or exists[0] is None:
            return []
        return [(r[0], r[1]) for r in conn.execute("SELECT id, raw_key FROM heartbeats")]


def test_scheduled_heartbeat_reaches_postgres_through_s3_and_sqs(real_cloud: Cloud) -> None:
    rows = wait_for(lambda: _rows(real_cloud), 30, what="a heartbeat row in PostgreSQL")
    beat_id, raw_key = rows[0]
    raw = json.loads(real_cloud.client("s3").get_object(Bucket="tributary-raw", Key=raw_key)[
        "Body"].read())
    assert raw["id"] == beat_id
    assert raw["trigger"]["detail-type"] == "Scheduled Event"


def test_cli_invoke_runs_the_deployed_function(real_cloud: Cloud) -> None:
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "invoke", "tributary-heartbeat",
                          "--payload", '{"by": "hand"}'], env=real_cloud.env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    beat = json.loads(out.stdout)
    wait_for(lambda: beat["id"] in {r[0] for r in _rows(real_cloud)}, 20,
             what="the invoked heartbeat in PostgreSQL")


def test_invoke_rejects_a_payload_that_is_not_json(real_cloud: Cloud) -> None:
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "invoke", "tributary-heartbeat",
                          "--payload", "{nope"], env=real_cloud.env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 2 and "--payload is not JSON" in out.stdout


def test_stack_down_stops_every_process_it_started(real_cloud: Cloud) -> None:
    pids = [s.pid for s in real_cloud.stack.status()]
    assert all(pids)
    children = [c for pid in pids if pid for c in psutil.Process(pid).children(recursive=True)]
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "stack", "down"],
                         env=real_cloud.env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    for proc in [*(psutil.Process(p) for p in pids if p), *children]:
        wait_for(lambda proc=proc: not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE,
                 10, what=f"process {proc.pid} to stop")
    assert all(s.state == "stopped" for s in real_cloud.stack.status())
