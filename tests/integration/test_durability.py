"""Nothing acknowledged is lost: `stack down`/`up`, and a SIGKILL of the emulator or of
PostgreSQL in the middle of an ingestion, leave every raw page, lake commit, checkpoint,
queued message and paused schedule intact, and the next ingestion ends exact."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from localcloud.ingest import lake, lake_ids
from simulators.datasync.data import Dataset
from simulators.settings import DatasyncServerSettings
from tests.conftest import ROOT, Cloud, start_cloud, wait_for

pytestmark = pytest.mark.integration
ENV = {
    "TRIBUTARY_DATASYNC_EVENTS": "20000", "TRIBUTARY_DATASYNC_SESSIONS": "400",
    "TRIBUTARY_DATASYNC_USERS": "50", "TRIBUTARY_DATASYNC_DAYS": "2",
    "TRIBUTARY_DATASYNC_FEED_PAGE_SIZE": "500", "TRIBUTARY_DATASYNC_PAGE_SIZE": "100",
    "TRIBUTARY_DATASYNC_PARTITION_EVENTS": "4000", "TRIBUTARY_DATASYNC_RATE_FEED": "8",
    "TRIBUTARY_FETCH_LEASE_S": "4", "TRIBUTARY_PARAM_TransformVisibilityTimeout": "6",
    "TRIBUTARY_HALLOW_PUSH": "false",
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("durable"), ROOT / "template.yaml", 4830, ENV)
    yield c
    c.stack.down()
    mp.undo()


def _expected() -> set[str]:
    data = Dataset(DatasyncServerSettings())
    return {data.event(i)["id"] for i in range(data.n)}


_LEASE = {"lease_owner", "lease_until"}


def _state(cloud: Cloud) -> dict[str, Any]:
    """Everything the emulator holds that a restart must keep."""
    ddb = cloud.client("dynamodb")
    items = [i for page in ddb.get_paginator("scan").paginate(
        TableName="tributary-checkpoints") for i in page["Items"]]
    rules = {r["Name"]: r["State"] for r in cloud.client("events").list_rules()["Rules"]}
    versions = {t: lake(cloud.settings).open(t).version() for t in ("events", "sessions")}
    return {"raw": sorted(cloud.keys("tributary-raw", "source=datasync/")),
            "lake": sorted(cloud.keys("tributary-lake", "")),
            "lake_rows": {t: lake_ids(cloud.settings, t) for t in ("events", "sessions")},
            "delta_versions": versions,
            # leases are who is working now, not what was kept: a clean stop gives them up
            "checkpoints": sorted(json.dumps({k: v for k, v in i.items() if k not in _LEASE},
                                             sort_keys=True) for i in items),
            "rules": rules}


def _loaded_pages(cloud: Cloud) -> int:
    if cloud.sql("SELECT to_regclass('load_log')")[0][0] is None:
        return 0
    return int(cloud.sql("SELECT count(*) FROM load_log")[0][0])


def _exact(cloud: Cloud) -> None:
    expected = _expected()
    assert {r[0] for r in cloud.sql("SELECT id FROM events")} == expected
    assert lake_ids(cloud.settings, "events") == (len(expected), len(expected))
    assert lake_ids(cloud.settings, "sessions") == (400, 400)
    raw = set(cloud.keys("tributary-raw", "source=datasync/"))
    loaded = {r[0] for r in cloud.sql("SELECT raw_key FROM load_log WHERE source = 'datasync'")}
    assert loaded <= raw, f"loaded pages missing from the raw zone: {sorted(loaded - raw)[:3]}"


def _quiet(cloud: Cloud) -> bool:
    status = json.loads(cloud.cli("status", "--json").stdout)
    return bool(status["settled"]) and status["queue"]["visible"] == 0 and \
        status["queue"]["in_flight"] == 0


def _kill(cloud: Cloud, service: str) -> None:
    """SIGKILL the daemon and everything it started, as a crash would."""
    pid = cloud.stack.pid(cloud.stack.service(service))
    assert pid is not None
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    for p in procs:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


def _up(cloud: Cloud) -> float:
    out = cloud.cli("stack", "up", "--json", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return float(json.loads(out.stdout)["elapsed_s"])


def test_down_and_up_keep_everything(cloud: Cloud) -> None:
    first = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "240")
    assert first.returncode == 0, first.stdout[-3000:]
    for source in ("hallow", "datasync"):  # paused schedules stay paused; nothing moves
        assert cloud.cli("pause", source).returncode == 0
    wait_for(lambda: _quiet(cloud), 60, what="the pipeline to go quiet")
    before = _state(cloud)
    assert before["raw"] and before["checkpoints"]
    cloud.stack.down()
    took = _up(cloud)
    after = _state(cloud)  # same objects, commits, checkpoints, paused rule
    for part, was in before.items():
        now = after[part]
        assert now == was, (part, sorted(set(was) - set(now))[:5], sorted(set(now) - set(was))[:5])
    assert took < 30
    assert cloud.cli("resume", "datasync").returncode == 0
    pages = _loaded_pages(cloud)
    again = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "120")
    assert again.returncode == 0, again.stdout[-3000:]
    partitions = len([c for c in before["checkpoints"] if '"kind"' in c])
    assert _loaded_pages(cloud) - pages <= max(3, partitions)  # at most a page a partition
    _exact(cloud)


@pytest.fixture
def fresh(tmp_path: Any) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path, ROOT / "template.yaml", 4840, ENV)
    yield c
    c.stack.down()
    mp.undo()


@pytest.mark.parametrize("service", ["emulator", "postgres"])
def test_a_daemon_killed_mid_ingestion_loses_nothing(fresh: Cloud, service: str) -> None:
    cloud = fresh
    assert cloud.cli("ingest", "--source", "datasync").returncode == 0
    wait_for(lambda: _loaded_pages(cloud) >= 5, 90, every=0.05, what="pages loading")
    _kill(cloud, service)
    time.sleep(1)
    _up(cloud)
    done = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    _exact(cloud)


def test_postgres_flushes_every_commit(cloud: Cloud) -> None:
    settings = dict(cloud.sql("SELECT name, setting FROM pg_settings WHERE name IN "
                              "('fsync', 'synchronous_commit', 'full_page_writes')"))
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def test_files_of_unacknowledged_writes_are_removed_at_start(cloud: Cloud) -> None:
    cloud.stack.down()
    state = cloud.settings.home_dir / "emulator" / "objects"
    orphan = state / "00" / "0000.cut-by-the-power"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"a write whose row was never committed")
    up = cloud.cli("stack", "up", timeout=120)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    health = httpx.get(f"{cloud.settings.emulator_url}/_tributary/health").json()
    assert not orphan.exists() and health["restored"]["orphans"] == 1


def test_damaged_state_is_refused_by_name(cloud: Cloud) -> None:
    cloud.stack.down()
    state = cloud.settings.home_dir / "emulator" / "objects"
    victim = next(p for p in state.rglob("*") if p.is_file())
    os.truncate(victim, 1)
    out = cloud.cli("stack", "up", timeout=120)
    assert out.returncode == 1
    assert "the emulator's state is damaged" in out.stdout and str(victim) in out.stdout
    assert "holds 1 bytes" in out.stdout
    running = [s.name for s in cloud.stack.services if cloud.stack.pid(s) is not None]
    assert running == [], f"a refused start left {running} running"
