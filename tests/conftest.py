"""Shared fixtures: a real embedded local cloud per test session, on ports of its own.

Ports differ from the defaults so the suite can run beside a developer's stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from localcloud.config import emulator_client, load_stack
from localcloud.credentials import api_token
from localcloud.deploy import Deployer
from localcloud.stack import Stack
from tributary.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*tools): the machine's tools the test drives "
                                       "(installed by tests/run.sh)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test whose tools are missing fails, naming them: a skip would let a run pass
    without it (``sh tests/run.sh`` installs them)."""
    tools = [tool for mark in item.iter_markers("needs") for tool in mark.args]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if "fusermount3" in tools and not Path("/dev/fuse").exists():
        missing.append("/dev/fuse (the kernel's FUSE device)")
    if missing:
        pytest.fail(f"this test needs {', '.join(missing)}, which this machine lacks: "
                    "`sh tests/run.sh` installs what the tests need", pytrace=False)


@dataclass
class Cloud:
    settings: Settings
    stack: Stack
    env: dict[str, str]

    def client(self, service: str) -> Any:
        return emulator_client(service, self.settings)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``tributary <args>`` against this stack, as a user runs it."""
        return subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.pg_dsn.get_secret_value()) as conn:
            return conn.execute(query, params).fetchall()

    @property
    def auth(self) -> dict[str, str]:
        """The header every HTTP route but the webhook wants (the stack's API token)."""
        return {"authorization": f"Bearer {api_token(self.settings)}"}

    def keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


def checkpoints_table(dynamodb: Any, name: str) -> Any:
    """The checkpoints table's shape (template.yaml's CheckpointsTable), for in-process moto:
    checkpoints, leases and the refresh-token mutex live in it."""
    return dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2,
             what: str = "condition") -> Any:
    """Poll until ``check()`` is truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def sigkill_and_restart(cloud: Cloud, name: str = "runtime") -> None:
    """SIGKILL one of the stack's daemons, wait for it to die, start it again."""
    svc = cloud.stack.service(name)
    pid = cloud.stack.pid(svc)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: cloud.stack.pid(svc) is None, 10, what=f"the {name} to die")
    cloud.stack.start(svc)
    cloud.stack.wait_healthy(svc, 30)


def serve(routes: list[Any], port: int) -> Any:
    """A stub partner API (Starlette routes) on ``port`` in a thread; stop it with
    ``server.should_exit = True``."""
    import threading

    import uvicorn
    from starlette.applications import Starlette

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    wait_for(lambda: server.started, 10, what=f"the stub API on port {port}")
    return server


def start_cloud(home: Path, template: Path, base_port: int, extra: dict[str, str] | None = None,
                polling: frozenset[str] = frozenset({"datasync"}), upkeep: bool = False
                ) -> tuple[Cloud, pytest.MonkeyPatch]:
    """A stack on ports base..base+9 (+6 is left for a test's stub partner API); only the
    ``polling`` sources' schedules stay enabled, and the lake's upkeep only with ``upkeep``,
    so a test sees no traffic from sources it does not look at, nor files compacted under it."""
    hallow_port = int((extra or {}).get("TRIBUTARY_HALLOW_PORT", base_port + 4))
    env = {
        "TRIBUTARY_HOME": str(home),
        "TRIBUTARY_TEMPLATE": str(template),
        "TRIBUTARY_EMULATOR_PORT": str(base_port),
        "TRIBUTARY_RUNTIME_PORT": str(base_port + 1),
        "TRIBUTARY_PG_DSN": f"postgresql://tributary:tributary@127.0.0.1:{base_port + 2}/tributary",
        "TRIBUTARY_SCHEDULE_SCALE": "0.02",  # rate(1 minute) fires every 1.2 s
        "TRIBUTARY_DATASYNC_URL": f"http://127.0.0.1:{base_port + 3}",
        "TRIBUTARY_HALLOW_PORT": str(hallow_port),
        "TRIBUTARY_HALLOW_URL": f"http://127.0.0.1:{hallow_port}",
        "TRIBUTARY_SNAPSHOTS_URL": f"http://127.0.0.1:{base_port + 5}",
        "TRIBUTARY_TIMELINE_URL": f"http://127.0.0.1:{base_port + 7}",
        "TRIBUTARY_ATHENA_PORT": str(base_port + 8),
        "TRIBUTARY_BAZAAR_URL": f"http://127.0.0.1:{base_port + 9}",
        "TRIBUTARY_TIMELINE_ROWS": "2000",
        "TRIBUTARY_RUNTIME_PREWARM": "false",  # a test uses a few functions: start those
        # The checkout's code unless a stack asks for its built artifacts: a session fixture
        # that did ask keeps its variables set while later modules start their stacks.
        "TRIBUTARY_RUNTIME_FROM_BUILD": "false",
        **(extra or {}),
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)  # the daemons inherit these
    settings = Settings()
    stack = Stack(settings)
    try:
        stack.up(lambda: Deployer(load_stack(settings), settings).run())
        events = emulator_client("events", settings)
        for rule in events.list_rules(NamePrefix="tributary-fetch-")["Rules"]:
            if rule["Name"].removeprefix("tributary-fetch-") not in polling:
                events.disable_rule(Name=rule["Name"])
        if not upkeep and any(r["Name"] == "tributary-maintain" for r in
                              events.list_rules(NamePrefix="tributary-maintain")["Rules"]):
            events.disable_rule(Name="tributary-maintain")
    except BaseException:
        stack.down()  # stop whatever did start, so the next run finds the ports free
        mp.undo()
        raise
    return Cloud(settings, stack, {**os.environ, **env}), mp


@pytest.fixture(scope="session", params=["checkout", "built"])
def probe_cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Cloud]:
    """The probe stack (tests/fixtures/probe/template.yaml), twice: its functions run from
    the checkout (ports 4610-4617), then from what ``tributary build`` made of them, each in
    Python 3.13 with only its artifact, through the Lambda Runtime API (ports 4880-4887)."""
    template = FIXTURES / "probe" / "template.yaml"
    home = tmp_path_factory.mktemp(f"probe-{request.param}")
    built = request.param == "built"
    if built:
        build(home, template, "--zip-only")
    cloud, mp = start_cloud(home, template, 4880 if built else 4610,
                            {"TRIBUTARY_RUNTIME_FROM_BUILD": str(built).lower()})
    yield cloud
    cloud.stack.down()
    mp.undo()


def build(home: Path, template: Path, *args: str) -> dict[str, Any]:
    """``tributary build`` of ``template`` into ``home/build``, as a user runs it; its
    ``--json`` report."""
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "build", "--json", *args],
                         env=os.environ | {"TRIBUTARY_HOME": str(home),
                                           "TRIBUTARY_TEMPLATE": str(template)},
                         capture_output=True, text=True, timeout=1200, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


LIVE_BASE = 4870
LIVE_SETTINGS = {
    "TRIBUTARY_TIMELINE_ROWS": "20000",
    "TRIBUTARY_TIMELINE_TICK_S": "0.25",  # up to 124 changes a second
    "TRIBUTARY_TIMELINE_CHAOS_DROP_RATE": "0.02",  # a socket dropped every ~12 s
    "TRIBUTARY_TIMELINE_REPAIR_EVERY_S": "5",
    "TRIBUTARY_LIVE_HOLD_S": "12",  # a handover every ~12 s
    "TRIBUTARY_LIVE_HANDOVER_S": "5",
    "TRIBUTARY_LIVE_LEASE_S": "4",
    "TRIBUTARY_SCHEDULE_SCALE": "0.1",  # the watchdog schedule fires every 6 s
}


@pytest.fixture(scope="session")
def live_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A stack whose live timeline source is held, copied and changing, for the live and
    viewer tests (on ports 4870-4877; upstream's simulator on 4877)."""
    cloud, mp = start_cloud(tmp_path_factory.mktemp("live"), ROOT / "template.yaml", LIVE_BASE,
                            LIVE_SETTINGS, polling=frozenset({"timeline"}))
    try:
        wait_for(lambda: cloud.sql("SELECT to_regclass('timeline') IS NOT NULL")[0][0] and
                 cloud.sql("SELECT count(*) FROM timeline")[0][0] >= 20_000, 90, 1,
                 what="the first copy")
        yield cloud
    finally:
        cloud.stack.down()
        mp.undo()

