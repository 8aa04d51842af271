"""SQL over the lake and PostgreSQL: joins, the HTTP API and CLI agreeing, every guard rail,
and partition pruning that really skips files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from localcloud.ingest import lake
from tests.conftest import ROOT, Cloud, start_cloud, wait_for
from tributary.analytics.runner import dbt_executable
from tributary.query.engine import Engine

pytestmark = pytest.mark.integration
ENV = {"TRIBUTARY_DATASYNC_EVENTS": "6000", "TRIBUTARY_DATASYNC_SESSIONS": "120",
       "TRIBUTARY_DATASYNC_FEED_PAGE_SIZE": "100",  # 20 pages a day: at least two
       # commits per day, as a transform batch holds at most 10 pages, for compaction to merge
       "TRIBUTARY_DATASYNC_DAYS": "3", "TRIBUTARY_HALLOW_PORT": "4714",
       "TRIBUTARY_HALLOW_PUSH": "false", "TRIBUTARY_QUERY_MAX_ROWS": "100",
       "TRIBUTARY_QUERY_TIMEOUT_S": "1"}
JOIN = ("SELECT e.type, count(*) AS n FROM events e JOIN pg.public.sessions s "
        "ON s.id = e.session_id WHERE e.dt = ? GROUP BY 1 ORDER BY n DESC, e.type")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("query"), ROOT / "template.yaml", 4710, ENV)
    try:  # a failed ingestion must not leave the stack running for the next test run
        out = subprocess.run([sys.executable, "-m", "localcloud.cli", "ingest", "--source",
                              "datasync", "--wait", "--timeout", "120"], env=c.env,
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        yield c
    finally:
        c.stack.down()
        mp.undo()


def _query(cloud: Cloud, sql: str, params: list[Any] | None = None,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{cloud.settings.runtime_url}/query", timeout=30,
                      headers=cloud.auth | (headers or {}),
                      json={"sql": sql, "params": params or []})


@pytest.mark.parametrize(("method", "path"), [("POST", "/query"), ("GET", "/tables"),
                                              ("GET", "/query/openapi.json"),
                                              ("GET", "/webhook/openapi.json"),
                                              ("GET", "/sources"),
                                              ("POST", "/sources/snapshots/pause")])
def test_every_route_but_the_webhook_wants_the_token(cloud: Cloud, method: str,
                                                     path: str) -> None:
    url = f"{cloud.settings.runtime_url}{path}"
    body = {"sql": "SELECT 1 AS one"}
    missing = httpx.request(method, url, json=body, timeout=30)
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    wrong = httpx.request(method, url, json=body, timeout=30,
                          headers={"authorization": "Bearer not-the-token"})
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    right = httpx.request(method, url, json=body, timeout=30, headers=cloud.auth)
    assert right.status_code == 200, right.text
    token = cloud.auth["authorization"].split()[1]
    logs = (cloud.settings.home_dir / "logs").rglob("*.log")
    assert not any(token in p.read_text(errors="replace") for p in logs)


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
    tables = {t["name"]: t for t in httpx.get(f"{cloud.settings.runtime_url}/tables",
                                                   headers=cloud.auth).json()[
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
    assert message in resp.json()["message"], resp.json()


def test_results_are_capped_with_a_note(cloud: Cloud) -> None:
    body = _query(cloud, "SELECT id FROM events").json()
    assert body["row_count"] == 100 and body["truncated"] is True
    assert body["note"] == "result cut at 100 rows"


def test_long_queries_are_interrupted(cloud: Cloud) -> None:
    resp = _query(cloud, "SELECT count(*) FROM range(100000) a, range(100000) b "
                         "WHERE (a.range * b.range) % 7 = 3")
    assert resp.status_code == 400
    assert resp.json()["message"] == "query interrupted after the 1 s timeout"


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
    from localcloud.ingest import lake

    # The table's files at its latest commit: the bucket may also hold files no commit
    # refers to (a writer that lost a commit race leaves its file behind).
    table = lake(cloud.settings).open("events")
    assert table is not None
    files = table.file_uris()
    day_files = sum("/dt=2026-10-02/" in f for f in files)
    all_files = len(files)
    engine.views.prepare(["events"])  # as a query naming it does
    plan = engine.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events "
                              "WHERE dt = '2026-10-02'").fetchall()[0][1]
    found = re.search(r"Scanning Files: (\d+)/(\d+)", plan)
    assert found, plan
    scanned, total = map(int, found.groups())
    assert (scanned, total) == (day_files, all_files) and scanned < total


def _put_parquet(cloud: Cloud, key: str, table: pa.Table) -> None:
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    cloud.client("s3").put_object(Bucket="tributary-lake", Key=key, Body=buf.getvalue())


def _events(rows: list[tuple[str, str, str | None]]) -> dict[str, list[Any]]:
    return {"event_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
            "properties": [json.dumps({"content_id": r[2]} if r[2] else {}) for r in rows]}


def _project(tmp_path: Path) -> Path:
    """A copy of the dbt project, so that tests never touch the developer's target/."""
    return Path(shutil.copytree(ROOT / "analytics", tmp_path / "analytics",
                                ignore=shutil.ignore_patterns("target", "logs", ".user.yml")))


def _models_run(cloud: Cloud, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcloud.cli", "models", "run", "--project",
                           str(project), *args], env=cloud.env, capture_output=True, text=True,
                          check=False)


def _dbt(cloud: Cloud, project: Path, command: str) -> subprocess.CompletedProcess[str]:
    """dbt itself, in the project folder, as a dbt user runs it."""
    return subprocess.run([dbt_executable(), command], cwd=project, env=cloud.env,
                          capture_output=True, text=True, check=False)


def _put_hallow(cloud: Cloud) -> None:
    users = {"u1": 20, "u2": 22, "u3": 30, "u4": 70, "u5": 16, "u6": 40}
    prayers = {"c1": "rosary", "c2": "meditation", "c3": "podcast", "c4": "academic",
               "c5": "reflection", "c6": "lectio_divina"}
    _put_parquet(cloud, "hallow_users/part-0.parquet", pa.table(
        {"user_id": list(users), "age": list(users.values())}))
    _put_parquet(cloud, "hallow_content/part-0.parquet", pa.table(
        {"content_id": list(prayers), "prayer_type": list(prayers.values())}))
    views = [("p1", "u1", "c1"), ("p2", "u1", "c1"), ("p3", "u2", "c2"), ("p4", "u3", "c3"),
             ("p5", "u5", "c1"),  # under 18: not in any group
             ("p6", "u1", None)]  # references no content: not a session
    views += [(f"q{i}", "u6", c) for i, c in enumerate(["c1", "c2", "c3", "c4", "c5", "c6",
                                                        "c6"])]
    likes = [("l1", "u3", "c4"), ("l2", "u3", "c4")]  # content events, but not sessions
    _put_parquet(cloud, "hallow_events/part-0.parquet", pa.table(
        {**_events(views + likes),
         "event_type": ["view"] * len(views) + ["like", "share"]}))
    pushed = [("w1", "u2", "c1"), ("p3", "u2", "c2"),  # p3 was pulled too: counted once
              ("w2", "u4", "c4"), ("w3", "u4", "c4"), ("w4", "u4", "c5"),
              ("w5", "u3", "c99")]  # unknown content
    _put_parquet(cloud, "webhook_events/event_type=view/dt=2026-11-22/hour=09/part-t.parquet",
                 pa.table({**_events(pushed), "source": ["web"] * len(pushed)}))
    _put_parquet(cloud, "webhook_events/event_type=like/dt=2026-11-22/hour=09/part-u.parquet",
                 pa.table({**_events([("w6", "u4", "c5")]), "source": ["web"]}))


def test_dbt_models_give_the_hand_checked_answer_and_their_tests_bite(cloud: Cloud,
                                                                      tmp_path: Path) -> None:
    _put_hallow(cloud)
    project = _project(tmp_path)
    # A user listed twice: the unique test fails the build, and the models after it wait.
    _put_parquet(cloud, "hallow_users/part-1.parquet", pa.table({"user_id": ["u1"],
                                                                 "age": [20]}))
    failed = _models_run(cloud, project)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"FAIL 1 unique_stg_hallow_users_user_id", failed.stdout), failed.stdout
    assert "SKIP test" in failed.stdout or "SKIP relation" in failed.stdout, failed.stdout
    cloud.client("s3").delete_object(Bucket="tributary-lake", Key="hallow_users/part-1.parquet")

    ran, tested = _dbt(cloud, project, "run"), _dbt(cloud, project, "test")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr
    done = re.search(r"PASS=(\d+) WARN=0 ERROR=0 SKIP=0", tested.stdout)
    assert done and int(done.group(1)) >= 25, tested.stdout  # unique, not_null, accepted_values

    top5 = _query(cloud, "SELECT * FROM top_5_prayer_types_per_age_group").json()
    assert [c["name"] for c in top5["columns"]] == ["age_group", "prayer_type", "session_count",
                                                   "age_group_rank"]
    assert top5["rows"] == [  # views only
        ["18-24", "rosary", 3, 1], ["18-24", "meditation", 1, 2],
        ["25-34", "podcast", 1, 1],
        ["35-44", "lectio_divina", 2, 1], ["35-44", "academic", 1, 2],
        ["35-44", "meditation", 1, 3], ["35-44", "podcast", 1, 4],
        ["35-44", "reflection", 1, 5],  # rosary (1) ranks 6th: cut
        ["65+", "academic", 2, 1], ["65+", "reflection", 1, 2],
    ]
    every = _query(cloud, "SELECT * FROM hallow_top_prayer_types_by_age_group "
                          "WHERE age_group IN ('25-34', '65+')").json()
    assert every["rows"] == [  # likes and shares count here
        ["25-34", "academic", 2, 1], ["25-34", "podcast", 1, 2],
        ["65+", "academic", 2, 1], ["65+", "reflection", 2, 2],
    ]
    per_day = _query(cloud, "SELECT sum(events) FROM datasync_events_per_type_per_day").json()
    assert per_day["rows"] == [[6000]]
    direct = _query(cloud, "SELECT count(*) FROM events WHERE dt = '2026-10-02' "
                           "AND type = 'click'").json()["rows"][0][0]
    model = _query(cloud, "SELECT events FROM datasync_events_per_type_per_day "
                          "WHERE day = '2026-10-02' AND type = 'click'").json()["rows"][0][0]
    assert model == direct
    rejects = _query(cloud, "SELECT count(*) FROM rejects_per_stream").json()
    assert rejects["rows"] == _query(cloud, "SELECT count(*) FROM (SELECT DISTINCT source, "
                                            "stream, reason FROM pg.public.rejects)").json()["rows"]


def test_models_whose_lake_tables_have_not_landed_are_left_out_not_failed(
        cloud: Cloud, tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "models" / "later.yml").write_text(
        "version: 2\nsources:\n  - name: lake\n    schema: lake\n"
        "    tables: [{name: not_landed_yet}]\n")
    (project / "models" / "marts" / "needs_more.sql").write_text(
        "SELECT count(*) AS n FROM {{ source('lake', 'not_landed_yet') }}")
    (project / "models" / "marts" / "ready.sql").write_text(
        "SELECT count(*) AS n FROM {{ source('lake', 'events') }}")
    out = _models_run(cloud, project, "--select", "needs_more ready", "--no-test")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "left out: the models reading lake.not_landed_yet (it has not landed yet)" in \
        out.stdout.replace("\n", " ")
    assert "needs_more" not in out.stdout.split("left out:")[0]  # dbt never ran it
    assert _query(cloud, "SELECT n FROM ready").json()["rows"] == [[6000]]


def _content(cloud: Cloud) -> pa.Table:
    files = lake(cloud.settings).read("events")
    assert files
    return pa.concat_tables([t for _, t in files]).sort_by("id")


def test_compaction_keeps_every_row_and_readers_never_see_both_file_sets(cloud: Cloud) -> None:
    from localcloud.config import emulator_client

    before = _content(cloud)
    files = lake(cloud.settings).open("events").file_uris()  # type: ignore[union-attr]
    day_files = [f for f in files if "dt=2026-10-02" in f]
    assert len(day_files) > 1, "nothing to compact"
    engine = Engine(cloud.settings, emulator_client("s3", cloud.settings),
                    cloud.settings.emulator_url)
    seen: list[int] = []
    stop = threading.Event()

    def read_while_compacting() -> None:
        while not stop.is_set():
            engine.refresh(force=True)
            seen.append(engine.run("SELECT count(*) FROM events").rows[0][0])

    reader = threading.Thread(target=read_while_compacting)
    reader.start()
    try:
        one = cloud.cli("compact", "events", "--where", "dt=2026-10-02", "--json")
        every = cloud.cli("compact", "events", "--json")
    finally:
        stop.set()
        reader.join()
    assert one.returncode == 0 and every.returncode == 0, one.stdout + one.stderr + every.stderr
    day = json.loads(one.stdout)
    assert (day["files_before"], day["files_after"]) == (len(day_files), 1)
    assert day["rows_before"] == day["rows_after"] == before.filter(
        pc.equal(pc.strftime(before["occurred_at"], format="%Y-%m-%d"), "2026-10-02")).num_rows
    whole = json.loads(every.stdout)
    assert whole["files_after"] == 3 and whole["rows_after"] == 6000  # one file per day
    assert _content(cloud).equals(before)  # the same rows, the same values
    assert len(seen) > 3 and set(seen) == {6000}, seen  # never a mix of old and new files
    # Pruning still reads only the day asked for: now one file of three.
    plan = engine.con.execute("EXPLAIN ANALYZE SELECT count(*) FROM events "
                              "WHERE dt = '2026-10-02'").fetchall()[0][1]
    assert re.search(r"Scanning Files: 1/3", plan), plan


def test_compacting_what_is_not_there_is_a_clear_error(cloud: Cloud) -> None:
    missing = cloud.cli("compact", "no_such_table")
    assert missing.returncode == 1 and "no Delta table 'no_such_table' in the lake" in \
        missing.stdout
    wrong = cloud.cli("compact", "events", "--where", "hour=09")
    assert wrong.returncode == 1 and "events is partitioned by ['dt']; not by ['hour']" in \
        wrong.stdout.replace("\n", "")


def test_the_function_url_wants_a_sigv4_signature(cloud: Cloud) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{cloud.settings.runtime_url}/lambda-url/tributary-query/query"
    body = b'{"sql": "SELECT 42 AS answer"}'
    headers = {"content-type": "application/json"}
    unsigned = httpx.post(url, content=body, headers=headers, timeout=30)
    assert unsigned.status_code == 403 and "Signature Version 4" in unsigned.json()["message"]

    def signed(secret: str) -> httpx.Response:
        request = AWSRequest("POST", url, data=body, headers=headers)
        SigV4Auth(Credentials(cloud.settings.emulator_access_key_id, secret), "lambda",
                  cloud.settings.region).add_auth(request)
        return httpx.post(url, content=body, headers=dict(request.headers), timeout=30)

    assert signed("not-the-secret").status_code == 403
    good = signed(cloud.settings.emulator_secret_access_key.get_secret_value())
    assert good.status_code == 200, good.text
    assert good.json()["rows"] == [[42]]


def test_endpoints_give_a_working_curl_line_and_the_token_rotates(cloud: Cloud) -> None:
    import subprocess

    shown = cloud.cli("endpoints", "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    old = cloud.auth["authorization"].split()[1]
    assert old not in shown.stdout  # the token stays in its file
    with psycopg.connect(info["postgres"]) as conn:  # the DSN, password included, connects
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert {"method": "POST", "url": f"{cloud.settings.runtime_url}/query",
            "function": "tributary-query", "auth": "bearer token"} in info["routes"]
    assert httpx.get(f"{cloud.settings.runtime_url}/no/such/route", timeout=30).status_code == 404
    for route in info["routes"]:  # each is mounted: the door answers, with 401 if it is locked
        answer = httpx.request(route["method"], re.sub(r"\{[^}]+\}", "x", route["url"]),
                               timeout=30)
        assert answer.status_code != 404 and answer.status_code < 500, route
        assert route["auth"] != "bearer token" or answer.status_code == 401, route
    for url in info["function_urls"]:  # an unknown one is a bare 403, as on AWS
        answer = httpx.get(url["url"], timeout=30)
        if url["auth"] == "SigV4":  # it exists: the refusal names what the signature lacks
            assert answer.status_code == 403 and answer.json()["message"] != "Forbidden", url
        else:
            assert answer.status_code not in (403, 404) and answer.status_code < 500, url
    assert httpx.get(info["viewer"], timeout=30).status_code == 200
    assert "swagger-ui" in httpx.get(info["api_docs"], timeout=30).text
    assert httpx.get(f"{info['aws']}/_tributary/health", timeout=30).status_code == 200
    curl = subprocess.run(info["curl"], shell=True, capture_output=True, text=True, timeout=30)
    assert json.loads(curl.stdout)["rows"] == [[42]], curl.stdout + curl.stderr
    rotated = cloud.cli("stack", "rotate-token")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert cloud.auth["authorization"].split()[1] != old
    stale = httpx.get(f"{cloud.settings.runtime_url}/tables", timeout=30,
                      headers={"authorization": f"Bearer {old}"})
    assert stale.status_code == 403
    fresh = httpx.get(f"{cloud.settings.runtime_url}/tables", headers=cloud.auth, timeout=30)
    assert fresh.status_code == 200


def _control(cloud: Cloud, method: str, path: str) -> httpx.Response:
    return httpx.request(method, f"{cloud.settings.runtime_url}/sources{path}",
                         headers=cloud.auth, timeout=30)


def _cli_paused(cloud: Cloud, source: str) -> set[bool]:
    status = json.loads(cloud.cli("status", "--json").stdout)
    return {v["paused"] for k, v in status["streams"].items() if k.startswith(f"{source}/")}


def test_sources_are_controlled_over_http_as_with_the_cli(cloud: Cloud) -> None:
    listed = _control(cloud, "GET", "").json()["sources"]
    assert listed["datasync"]["paused"] is False and listed["timeline"]["kind"] == "live"
    assert listed["datasync"]["streams"]["events"]["settled"] is True
    assert listed["datasync"]["streams"]["events"]["transformed"] == 6000
    fresh = listed["datasync"]["streams"]["events"]["freshness"]
    assert fresh["last_fetched"] and fresh["last_changed_upstream"] and fresh["lag_s"] >= 0
    cli = json.loads(cloud.cli("status", "--json").stdout)["streams"]["datasync/events"]
    assert cli["freshness"]["last_fetched"] == fresh["last_fetched"]
    assert listed["snapshots"]["paused"] is True  # this module polls datasync only
    refused = _control(cloud, "POST", "/snapshots/ingest")
    assert refused.status_code == 409 and "resume it first" in refused.json()["message"]
    assert _control(cloud, "POST", "/snapshots/resume").json() == {
        "source": "snapshots", "paused": False, "schedule": "ENABLED"}
    assert _cli_paused(cloud, "snapshots") == {False}  # the CLI sees what HTTP did
    assert _control(cloud, "POST", "/snapshots/ingest").status_code == 202

    def loaded() -> bool:
        streams = _control(cloud, "GET", "").json()["sources"]["snapshots"]["streams"]
        return all(s["pages_loaded"] > 0 for s in streams.values())

    wait_for(loaded, 60, what="the snapshots fetched over HTTP to load")
    assert _control(cloud, "POST", "/snapshots/pause").json()["paused"] is True
    assert _cli_paused(cloud, "snapshots") == {True}
    assert cloud.cli("resume", "snapshots").returncode == 0  # and HTTP sees what the CLI did
    assert _control(cloud, "GET", "").json()["sources"]["snapshots"]["paused"] is False
    assert _control(cloud, "POST", "/snapshots/pause").status_code == 200


def test_the_control_api_refuses_clearly(cloud: Cloud) -> None:
    unknown = _control(cloud, "POST", "/nosuch/pause")
    assert unknown.status_code == 404 and "declared" in unknown.json()["message"]
    live = _control(cloud, "POST", "/timeline/ingest")
    assert live.status_code == 409 and "live source" in live.json()["message"]
    paths = _control(cloud, "GET", "/openapi.json").json()["paths"]
    assert {"/sources", "/sources/{name}/pause", "/sources/{name}/resume",
            "/sources/{name}/ingest"} <= set(paths)


def test_the_glue_catalog_describes_the_lake(cloud: Cloud) -> None:
    """What Athena reads: database tributary, one Delta table per lake table, current."""
    out = cloud.cli("invoke", "tributary-catalog")
    assert out.returncode == 0, out.stdout + out.stderr
    glue = cloud.client("glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="tributary")["TableList"]}
    events = tables["events"]
    assert events["Parameters"]["table_type"] == "DELTA"
    assert events["StorageDescriptor"]["Location"] == "s3://tributary-lake/events/"
    assert [k["Name"] for k in events["PartitionKeys"]] == ["dt"]  # typed as in the Delta log
    assert {"Name": "id", "Type": "string"} in events["StorageDescriptor"]["Columns"]
    again = cloud.cli("invoke", "tributary-catalog")
    assert "events" in json.loads(again.stdout)["unchanged"]  # idempotent


def test_select_1_reads_nothing_from_the_lake(cloud: Cloud,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud.config import emulator_client
    from tributary.load.lake import Lake

    s3 = emulator_client("s3", cloud.settings)
    engine = Engine(cloud.settings, s3, cloud.settings.emulator_url)
    assert engine.run("SELECT count(*) FROM events").rows == [(6000,)]
    # What the engine asks of S3: through boto3 (listings) and delta-rs (each table's log).
    asked: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: asked.append(model.name))
    opened = Lake.open
    monkeypatch.setattr(Lake, "open", lambda self, name, latest=True: (
        asked.append(f"open {name}"), opened(self, name, latest))[1])
    for _ in range(5):
        assert engine.run("SELECT 1").rows == [(1,)]
    assert engine.run("SELECT count(*) FROM pg.public.sessions").rows[0][0] > 0
    assert asked == []
    time.sleep(1.1)  # past the check interval: a query naming a table looks at its log only
    assert engine.run("SELECT count(*) FROM events").rows == [(6000,)]
    assert asked == ["open events"]


def test_a_stray_prefix_is_skipped_not_a_table(cloud: Cloud) -> None:
    from localcloud.config import emulator_client

    s3 = emulator_client("s3", cloud.settings)
    # What an Athena query with its output location inside the lake leaves behind.
    s3.put_object(Bucket=cloud.settings.lake_bucket, Key="x/0001.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=cloud.settings.lake_bucket, Key="x/0001.csv.metadata", Body=b"\0")
    try:
        assert _query(cloud, "SELECT 1").json()["rows"] == [[1]]
        assert _query(cloud, "SELECT count(*) FROM events").json()["rows"] == [[6000]]
        cli = cloud.cli("query", "SELECT 41 + 1 AS n", "--format", "json")
        assert cli.returncode == 0 and json.loads(cli.stdout)["rows"] == [[42]], cli.stderr
        listed = httpx.get(f"{cloud.settings.runtime_url}/tables", headers=cloud.auth).json()
        assert "x" not in {t["name"] for t in listed["tables"]}
        assert {"name": "x", "reason": "no Delta log and no Parquet files"} in listed["skipped"]
        missing = _query(cloud, "SELECT * FROM x")
        assert missing.status_code == 400 and "Table with name x does not exist" in \
            missing.json()["message"]
    finally:
        s3.delete_objects(Bucket=cloud.settings.lake_bucket, Delete={"Objects": [
            {"Key": "x/0001.csv"}, {"Key": "x/0001.csv.metadata"}]})


def test_a_table_whose_files_are_gone_fails_only_the_queries_naming_it(cloud: Cloud) -> None:
    from localcloud.config import emulator_client

    store = lake(cloud.settings)
    store.append("doomed", pa.table({"id": [1, 2, 3], "dt": ["2026-10-01"] * 3}), ["dt"],
                 "doomed-page-1")
    assert _query(cloud, "SELECT count(*) FROM doomed").json()["rows"] == [[3]]
    s3 = emulator_client("s3", cloud.settings)
    for uri in store.open("doomed").file_uris():  # type: ignore[union-attr]
        s3.delete_object(Bucket=cloud.settings.lake_bucket,
                         Key=uri.removeprefix(f"s3://{cloud.settings.lake_bucket}/"))
    try:
        broken = _query(cloud, "SELECT count(*) FROM doomed")
        assert broken.status_code == 400
        assert broken.json()["message"].startswith("lake table doomed cannot be read"), \
            broken.json()
        assert _query(cloud, "SELECT count(*) FROM events").json()["rows"] == [[6000]]
        assert _query(cloud, "SELECT 1").json()["rows"] == [[1]]
        listed = httpx.get(f"{cloud.settings.runtime_url}/tables", headers=cloud.auth)
        assert listed.status_code == 200 and "events" in {
            t["name"] for t in listed.json()["tables"]}
    finally:
        keys = s3.list_objects_v2(Bucket=cloud.settings.lake_bucket, Prefix="doomed/")
        s3.delete_objects(Bucket=cloud.settings.lake_bucket, Delete={"Objects": [
            {"Key": o["Key"]} for o in keys.get("Contents", [])]})


def test_the_maintain_function_keeps_every_row_and_idle_tables_get_no_commit(
        cloud: Cloud) -> None:
    out = cloud.cli("invoke", "tributary-maintain")
    assert out.returncode == 0, out.stdout + out.stderr
    first = {t["table"]: t for t in json.loads(out.stdout)["tables"]}
    assert {"events", "sessions"} <= set(first)
    assert all(t["error"] is None for t in first.values()), first
    assert _query(cloud, "SELECT count(*) FROM events").json()["rows"] == [[6000]]
    # DataSync is polled all along (every 6 s here) and has nothing new: no page lands, so
    # the tables take no commit, and upkeep with nothing to do adds none either.
    time.sleep(8)
    again = {t["table"]: t for t in json.loads(
        cloud.cli("invoke", "tributary-maintain").stdout)["tables"]}
    for name in ("events", "sessions"):
        assert again[name]["version"] == first[name]["version"], (first[name], again[name])
        assert again[name]["vacuumed"] == 0 and not again[name]["checkpointed"]
