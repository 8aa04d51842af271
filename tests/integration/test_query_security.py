"""No secret and no part of the machine is reachable through SQL.

The stack runs with distinctive secrets (PostgreSQL password, the S3 secret key the functions
get); every hostile query's answer, and afterwards every log file, is searched for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ROOT, Cloud, start_cloud

pytestmark = pytest.mark.integration
BASE = 4850
PG_PASSWORD = "Pg-Pass-7c1e9a3f"
S3_SECRET = "S3-Secret-4b8d2f61"
ENV = {"TRIBUTARY_PG_DSN": f"postgresql://tributary:{PG_PASSWORD}@127.0.0.1:{BASE + 2}/tributary",
       "TRIBUTARY_EMULATOR_SECRET_ACCESS_KEY": S3_SECRET, "TRIBUTARY_QUERY_MEMORY_MB": "256",
       "TRIBUTARY_QUERY_TIMEOUT_S": "5", "TRIBUTARY_HALLOW_PUSH": "false",
       "TRIBUTARY_DATASYNC_EVENTS": "2000", "TRIBUTARY_DATASYNC_SESSIONS": "40"}
ONLY_SELECT = "only read-only SELECT queries are allowed"
FILES = "disabled by configuration"
# (query, what the refusal says) - None: answered, but without any secret.
HOSTILE: list[tuple[str, str | None]] = [
    ("SELECT current_setting('s3_secret_access_key') AS s", None),
    ("SELECT current_setting('s3_access_key_id') AS s", None),
    ("SELECT * FROM duckdb_settings()", None),
    ("SELECT * FROM duckdb_secrets()", None),
    ("SELECT * FROM duckdb_secrets(redact := false)", None),
    ("SELECT * FROM duckdb_databases()", None),
    ("SELECT * FROM which_secret('s3://tributary-lake/events', 's3')", None),
    ("SELECT * FROM duckdb_extensions()", None),
    ("SELECT * FROM pg.information_schema.tables", None),
    ("SELECT * FROM postgres_query('pg', 'SELECT usename, passwd FROM pg_user')", None),
    ("SELECT * FROM postgres_query('pg', 'SELECT name, setting FROM pg_settings')", None),
    ("SELECT * FROM duckdb_functions() WHERE function_name ILIKE '%secret%'", None),
    ("SELECT error('x' || coalesce(current_setting('s3_secret_access_key'), ''))", "x"),
    ("SELECT * FROM range(100000000)", None),
    ("PRAGMA database_list", None),  # DuckDB runs it as a SELECT: pg's path is empty
    ("CALL pragma_database_list()", ONLY_SELECT),
    ("SET memory_limit = '10GB'", ONLY_SELECT),
    ("RESET lock_configuration", ONLY_SELECT),
    ("ATTACH 'x.db' AS x", ONLY_SELECT),
    ("INSTALL httpfs", ONLY_SELECT),
    ("LOAD httpfs", ONLY_SELECT),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", ONLY_SELECT),
    ("EXPORT DATABASE '/tmp/x'", ONLY_SELECT),
    ("CREATE TABLE t AS SELECT 1", ONLY_SELECT),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", ONLY_SELECT),
    ("SELECT 1; SELECT 2", "send exactly one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", FILES),
    ("SELECT * FROM read_text('/proc/self/environ')", FILES),
    ("SELECT * FROM read_json_auto('/root/.aws/credentials')", FILES),
    ("SELECT * FROM glob('/*')", FILES),
    ("SELECT * FROM read_parquet('http://127.0.0.1:4566/tributary-lake/x.parquet')", FILES),
    ("SELECT * FROM read_text('s3://tributary-raw/anything')", FILES),
    ("SELECT getenv('TRIBUTARY_PG_DSN')", "getenv"),
    ("SELECT * FROM postgres_query('pg', 'SELECT rolpassword FROM pg_authid')",
     "permission denied"),
    ("SELECT * FROM postgres_query('pg', 'SELECT pg_read_file(''/etc/passwd'')')",
     "permission denied"),
    ("SELECT * FROM postgres_query('pg', 'SELECT current_setting(''data_directory'')')",
     "permission denied"),
    ("SELECT * FROM postgres_execute('pg', 'DROP TABLE events')", "read-only"),
    ("SELECT * FROM postgres_query('pg', 'DELETE FROM events RETURNING id')", ""),
    ("SELECT list(range) FROM range(300000000)", "memory limit of 256 MB"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
     None),
]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("secure"), ROOT / "template.yaml", BASE, ENV)
    done = c.cli("ingest", "--source", "datasync", "--wait", "--timeout", "120")
    assert done.returncode == 0, done.stdout[-2000:]
    yield c
    c.stack.down()
    mp.undo()


def _secrets(cloud: Cloud) -> list[str]:
    return [PG_PASSWORD, S3_SECRET, urlsplit(cloud.settings.reader_dsn).password or "?"]


answers: list[str] = []


@pytest.mark.parametrize(("sql", "refusal"), HOSTILE, ids=[q[:60] for q, _ in HOSTILE])
def test_hostile_queries(cloud: Cloud, sql: str, refusal: str | None) -> None:
    resp = httpx.post(f"{cloud.settings.runtime_url}/query", json={"sql": sql}, timeout=60,
                      headers=cloud.auth)
    answers.append(resp.text)
    for secret in _secrets(cloud):
        assert secret not in resp.text
    assert resp.status_code < 500, resp.text
    if refusal is None:
        assert resp.status_code in (200, 400), resp.text
    else:
        assert resp.status_code == 400 and refusal in resp.json()["message"], resp.text
    if "events" in sql:
        assert cloud.sql("SELECT count(*) FROM events") == [(2000,)]  # nothing was changed


def test_there_were_at_least_30_and_no_secret_reached_a_log(cloud: Cloud) -> None:
    assert len(HOSTILE) >= 30 and len(answers) == len(HOSTILE)
    logs = [p for p in (cloud.settings.home_dir / "logs").rglob("*") if p.is_file()]
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in _secrets(cloud):
            assert secret not in text, f"{secret[:4]}... in {path}"


def test_the_lake_and_postgres_still_answer(cloud: Cloud) -> None:
    resp = httpx.post(f"{cloud.settings.runtime_url}/query", json={
        "sql": "SELECT (SELECT count(*) FROM events) AS lake, "
               "(SELECT count(*) FROM pg.public.events) AS pg"}, timeout=60, headers=cloud.auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == [[2000, 2000]]
