"""An API the project has never seen, declared in YAML alone: one stream that cannot work
fails on its own (named, with its error, at once) while its siblings load exactly once each,
`ingest --wait` ends with the right verdict, and an incremental stream's verdict is right
after edits upstream."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import psycopg
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import ROOT, Cloud, serve, start_cloud

pytestmark = pytest.mark.integration
BASE = 4770
PORT = BASE + 6
URL = f"http://127.0.0.1:{PORT}"

# The partner's key, the same for its three sources.
AUTH = """
auth:
  kind: header
  header: X-Api-Key
  secret: ${HELPDESK_KEY}
"""
HELPDESK_YAML = """
name: helpdesk
base_url: ${HELPDESK_URL}
""" + AUTH + """streams:
  - name: tickets  # the next page's URL in the body; the count in meta
    endpoint: /tickets
    records_path: data
    total_path: meta.total
    primary_key: id
    pagination: {style: json_link, next_url_path: links.next, limit_param: "page[size]",
                 limit: 40}
    table: helpdesk_tickets
    columns:
      id: {type: bigint, required: true}
      subject: {}
      opened: {type: timestamp, from: opened_at}
  - name: agents  # all in one response
    endpoint: /agents
    records_path: agents
    primary_key: login
    pagination: {style: single}
    table: helpdesk_agents
    columns:
      login: {required: true}
      team: {}
  - name: customers  # broken on purpose: the records are under result.items
    endpoint: /customers
    records_path: result.entries
    primary_key: id
    pagination: {style: single}
    table: helpdesk_customers
    columns:
      id: {type: bigint, required: true}
"""
CHANGELOG_YAML = """
name: changelog
base_url: ${HELPDESK_URL}
""" + AUTH + """streams:
  - name: changes  # only what changed since the last pass; meta.count counts that pass
    endpoint: /changes
    records_path: items
    total_path: meta.count
    primary_key: id
    pagination: {style: page_number, limit: 25}
    incremental: {param: updated_since, cursor_path: updated_at, initial_value: "0"}
    table: changelog_changes
    columns:
      id: {type: bigint, required: true}
      value: {}
      updated_at: {type: bigint}
"""
CLASH_YAML = """
name: clash
base_url: ${HELPDESK_URL}
""" + AUTH + """streams:
  - name: agents  # into a table someone made before, with other columns: no page can load
    endpoint: /agents
    records_path: agents
    primary_key: login
    pagination: {style: single}
    table: clash_agents
    columns:
      login: {required: true}
      team: {}
"""
ENV = {"TRIBUTARY_SCHEDULE_SCALE": "1000", "TRIBUTARY_HALLOW_PUSH": "false",
       # A failing page is dead-lettered after 5 deliveries: 5 x 6 s, not 5 x 3 minutes.
       "TRIBUTARY_PARAM_TransformVisibilityTimeout": "6",
       "TRIBUTARY_DATASYNC_EVENTS": "1000", "TRIBUTARY_DATASYNC_SESSIONS": "50",
       "HELPDESK_URL": URL, "HELPDESK_KEY": "k-123"}
TICKETS = [{"id": i, "subject": f"ticket {i}", "opened_at": 1_700_000_000 + i * 60}
           for i in range(1, 201)]
AGENTS = [{"login": f"agent{i}", "team": "blue" if i % 2 else "red"} for i in range(12)]


class Upstream:
    """The partner's API: what it holds, and every request it answered, by path."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.changes = {i: {"id": i, "value": f"v{i}", "updated_at": 1000 + i}
                        for i in range(1, 61)}
        self.clock = 2000
        self.rate_limited = False

    def edit(self, ids: list[int], new: int) -> None:
        for i in ids:
            self.clock += 1
            self.changes[i] = {"id": i, "value": f"edited {i}", "updated_at": self.clock}
        for i in range(len(self.changes) + 1, len(self.changes) + 1 + new):
            self.clock += 1
            self.changes[i] = {"id": i, "value": f"v{i}", "updated_at": self.clock}

    def routes(self) -> list[Route]:
        async def tickets(request: Request) -> Response:
            if not self.rate_limited:  # once, with Retry-After as an HTTP-date
                self.rate_limited = True
                return JSONResponse({"error": "slow down"}, 429, headers={
                    "Retry-After": formatdate(time.time() + 1, usegmt=True)})
            self.calls["/tickets"] += 1
            size = int(request.query_params["page[size]"])
            number = int(request.query_params.get("page[number]", "1"))
            rows = TICKETS[(number - 1) * size:number * size]
            more = number * size < len(TICKETS)
            return JSONResponse({"data": rows, "meta": {"total": len(TICKETS)}, "links": {
                "next": f"{URL}/tickets?page[number]={number + 1}&page[size]={size}"
                if more else None}})

        async def agents(request: Request) -> Response:
            self.calls["/agents"] += 1
            return JSONResponse({"agents": AGENTS})

        async def customers(request: Request) -> Response:
            self.calls["/customers"] += 1
            return JSONResponse({"result": {"items": [{"id": 1}, {"id": 2}]}})

        async def changes(request: Request) -> Response:
            self.calls["/changes"] += 1
            since = int(request.query_params["updated_since"])
            page, size = int(request.query_params["page"]), int(request.query_params["per_page"])
            rows = sorted((c for c in self.changes.values() if c["updated_at"] > since),
                          key=lambda c: c["updated_at"])
            return JSONResponse({"items": rows[(page - 1) * size:page * size],
                                 "meta": {"count": len(rows)}})

        def keyed(handler: Any) -> Any:
            async def checked(request: Request) -> Response:
                if request.headers.get("x-api-key") != "k-123":
                    return JSONResponse({"error": "no key"}, 401)
                response: Response = await handler(request)
                return response
            return checked

        return [Route(path, keyed(h)) for path, h in (
            ("/tickets", tickets), ("/agents", agents), ("/customers", customers),
            ("/changes", changes))]


@pytest.fixture(scope="module")
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Cloud]:
    home = tmp_path_factory.mktemp("any-api")
    folder = home / "sources"
    shutil.copytree(ROOT / "sources", folder)
    (folder / "helpdesk.yaml").write_text(HELPDESK_YAML)
    (folder / "changelog.yaml").write_text(CHANGELOG_YAML)
    (folder / "clash.yaml").write_text(CLASH_YAML)
    server = serve(upstream.routes(), PORT)
    c, mp = start_cloud(home, ROOT / "template.yaml", BASE,
                        {**ENV, "TRIBUTARY_SOURCES_DIR": str(folder)}, polling=frozenset())
    yield c
    c.stack.down()
    mp.undo()
    server.should_exit = True


def _summary(stdout: str) -> dict[str, list[str]]:
    """The summary table's cells per stream."""
    rows = {}
    for line in stdout.split(" summary ")[-1].splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 8 and "/" in cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_failing_stream_is_named_and_harms_no_sibling(cloud: Cloud, upstream: Upstream
                                                        ) -> None:
    began = time.monotonic()
    out = cloud.cli("ingest", "--source", "helpdesk", "--wait", "--timeout", "150")
    took = time.monotonic() - began
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]
    # It stops waiting for the failure, long before the timeout.
    assert took < 120, f"ingest --wait took {took:.0f}s:\n{out.stdout[-4000:]}"
    summary = _summary(out.stdout)
    assert summary.keys() == {"helpdesk/tickets", "helpdesk/agents", "helpdesk/customers"}, \
        out.stdout[-3000:] + out.stderr[-2000:]
    assert summary["helpdesk/tickets"][-1] == "OK", summary
    assert summary["helpdesk/agents"][-1] == "OK", summary
    assert summary["helpdesk/customers"][-1].startswith("FAILED"), summary
    assert "helpdesk/customers failed: HTTP 200 NO_RECORDS" in " ".join(out.stdout.split())
    # Named while it ran, in the progress lines, and never called done.
    assert "helpdesk/customers FAILED since" in out.stdout
    assert not any(line.startswith("20") and "helpdesk/customers " in line and "ETA done" in line
                   for line in out.stdout.splitlines())
    # The siblings were fetched once: 5 pages of tickets (after one 429), the agents once;
    # the broken stream once, since asking again cannot help.
    assert upstream.calls == Counter({"/tickets": 5, "/agents": 1, "/customers": 1})
    assert cloud.sql("SELECT count(*) FROM helpdesk_tickets") == [(200,)]

    status = json.loads(cloud.cli("status", "--json").stdout)
    failure = status["streams"]["helpdesk/customers"]["failure"]
    assert "NO_RECORDS" in failure["error"] and failure["final"] is True, failure
    assert failure["attempts"] == 1 and failure["since"], failure
    assert status["streams"]["helpdesk/tickets"]["failure"] is None
    assert "helpdesk/customers" in status["failed"]


def test_an_incremental_stream_is_judged_by_what_it_holds(cloud: Cloud, upstream: Upstream
                                                          ) -> None:
    for edits in ([], [3, 9, 27, 30, 41, 50, 58]):
        upstream.edit(edits, new=3 if edits else 0)
        out = cloud.cli("ingest", "--source", "changelog", "--wait", "--timeout", "180")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
        row = _summary(out.stdout)["changelog/changes"]
        # A pass's count is what changed since the last one, not what the upstream holds.
        assert row[0] == "not said" and row[5] == "0" and row[-1] == "OK", row
    held = cloud.sql("SELECT id, value, updated_at FROM changelog_changes ORDER BY id")
    # (A scalar key is the upstream's id, kept as text whatever its declared type.)
    assert held == sorted((str(c["id"]), c["value"], c["updated_at"])
                          for c in upstream.changes.values())


def test_a_page_that_cannot_load_is_named_and_ends_the_wait(cloud: Cloud) -> None:
    with psycopg.connect(cloud.settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute("CREATE TABLE clash_agents (login text PRIMARY KEY, since date)")
    began = time.monotonic()
    out = cloud.cli("ingest", "--source", "clash", "--wait", "--timeout", "240")
    took = time.monotonic() - began
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-2000:]
    # Five deliveries 6 s apart, then the page is dead-lettered and the wait ends.
    assert took < 150, f"ingest --wait took {took:.0f}s:\n{out.stdout[-4000:]}"
    text = " ".join(out.stdout.split())
    assert "clash/agents failing since" in text  # while it was retried
    assert 'clash/agents failed: loading a page: UndefinedColumn: column "team"' in text, text
    assert _summary(out.stdout)["clash/agents"][-1].startswith("FAILED")
    status = json.loads(cloud.cli("status", "--json").stdout)
    stream = status["streams"]["clash/agents"]
    assert stream["pages_failed"] == 1 and stream["failure"]["final"] is True, stream
    assert status["queue"]["dead_letter"] >= 1
