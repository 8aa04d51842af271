"""SQL over the lake and PostgreSQL: joins, the HTTP API and CLI agreeing, every guard rail,
and partition pruning that really skips files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tests.conftest import ROOT, Cloud, start_cloud
from tributary.query.engine import Engine

pytestmark = pytest.mark.integration
ENV = {"TRIBUTARY_DATASYNC_EVENTS": "6000", "TRIBUTARY_DATASYNC_SESSIONS": "120",
       "TRIBUTARY_DATASYNC_DAYS": "3", "TRIBUTARY_HALLOW_PORT": "4715",
       "TRIBUTARY_HALLOW_PUSH": "false", "TRIBUTARY_QUERY_MAX_ROWS": "100",
       "TRIBUTARY_QUERY_TIMEOUT_S": "1"}
JOIN = ("SELECT e.type, count(*) AS n FROM events e JOIN pg.public.sessions s "
        "ON s.id = e.session_id WHERE e.dt = ? GROUP BY 1 ORDER BY n DESC, e.type")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("query"), ROOT / "template.yaml", 4710, ENV)
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "ingest", "--all", "--wait",
                          "--timeout", "120"], env=c.env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    yield c
    c.stack.down()
    mp.undo()


def _query(cloud: Cloud, sql: str, params: list[Any] | None = None,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{cloud.settings.runtime_url}/query", timeout=30, headers=headers,
                      json={"sql": sql, "params": params or []})


def test_join_across_lake_and_postgres_over_http_and_cli_agree(cloud: Cloud) -> None:
    resp = _query(cloud, JOIN, ["2026-10-02"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [c["name"] for c in body["columns"]] == ["type", "n"]
    assert sum(r[1] for r in body["rows"]) == 2000  # a third of 6,000 events, one day
    cli = subprocess.run([sys.executable, "-m", "localcloud.cli", "query", JOIN, "--param",
                          "2026-10-02", "--format", "json"], env=cloud.env,
                         capture_output=True, text=True, check=False)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["rows"] == body["rows"]


def test_tables_lists_lake_and_postgres_tables(cloud: Cloud) -> None:
    tables = {t["name"]: t for t in httpx.get(f"{cloud.settings.runtime_url}/tables").json()[
        "tables"]}
    assert tables["events"]["source"] == "lake"
    assert "dt" in {c["name"] for c in tables["events"]["columns"]}  # a Hive partition column
    assert tables["pg.public.sessions"]["source"] == "postgres"


@pytest.mark.parametrize(("sql", "message"), [
    ("DELETE FROM events", "only read-only SELECT queries are allowed; this is DELETE"),
    ("INSERT INTO pg.public.sessions (id) VALUES ('x')", "this is INSERT"),
    ("CREATE TABLE t AS SELECT 1", "this is CREATE"),
    ("DROP VIEW events", "this is DROP"),
    ("COPY (SELECT * FROM events) TO '/tmp/out.csv'", "this is COPY"),
    ("ATTACH '/tmp/other.db' AS other", "this is ATTACH"),
    ("INSTALL httpfs", "this is LOAD"),
    ("LOAD httpfs", "this is LOAD"),
    ("SET enable_external_access = true", "this is SET"),
    ("SELECT 1; SELECT 2", "send exactly one statement (got 2)"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error: Cannot access file"),
    ("SELECT * FROM read_parquet('/tmp/*.parquet')", "Permission Error"),
    ("SELEC 1", "Parser Error: syntax error"),
    ("SELECT nope FROM events", "Binder Error"),
])
def test_guard_rails(cloud: Cloud, sql: str, message: str) -> None:
    resp = _query(cloud, sql)
    assert resp.status_code == 400
    assert message in resp.json()["error"], resp.json()


def test_results_are_capped_with_a_note(cloud: Cloud) -> None:
    body = _query(cloud, "SELECT id FROM events").json()
    assert body["row_count"] == 100 and body["truncated"] is True
    assert body["note"] == "result cut at 100 rows"


def test_long_queries_are_interrupted(cloud: Cloud) -> None:
    resp = _query(cloud, "SELECT count(*) FROM range(100000) a, range(100000) b "
                         "WHERE (a.range * b.range) % 7 = 3")
    assert resp.status_code == 400
    assert resp.json()["error"] == "query interrupted after the 1 s timeout"


def test_arrow_answers_when_asked(cloud: Cloud) -> None:
    resp = _query(cloud, JOIN, ["2026-10-02"],
                  headers={"accept": "application/vnd.apache.arrow.stream"})
    assert resp.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(resp.content).read_all()
    assert table.column_names == ["type", "n"] and sum(table["n"].to_pylist()) == 2000


def test_partition_filters_skip_files(cloud: Cloud) -> None:
    from localcloud.config import emulator_client

    engine = Engine(cloud.settings, emulator_client("s3", cloud.settings),
                    cloud.settings.emulator_url)
    day_files = len(cloud.keys("tributary-lake", "events/dt=2026-10-02/"))
    all_files = len(cloud.keys("tributary-lake", "events/"))
    plan = engine.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events "
                              "WHERE dt = '2026-10-02'").fetchall()[0][1]
    scanned, total = map(int, re.search(r"Scanning Files: (\d+)/(\d+)", plan).groups())  # type: ignore[union-attr]
    assert (scanned, total) == (day_files, all_files) and scanned < total
