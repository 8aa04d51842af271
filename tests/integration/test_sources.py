"""Declared sources on the embedded stack: Hallow's pull API through 503s and stalls, pause
and resume, snapshots with change detection, and an API declared by YAML alone."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.hallow.pull import PullApi
from simulators.settings import HallowSettings
from tests.conftest import ROOT, Cloud, serve, start_cloud, wait_for

pytestmark = pytest.mark.integration
BASE = 4730
HALLOW = f"http://127.0.0.1:{BASE + 4}"
SNAPSHOTS = f"http://127.0.0.1:{BASE + 5}"
BOOKS_PORT = BASE + 6
PULL_EVENTS = 20_000
ENV = {
    "TRIBUTARY_SCHEDULE_SCALE": "1000",  # schedules stay quiet: each test polls by hand
    "TRIBUTARY_HALLOW_PUSH": "false", "TRIBUTARY_HALLOW_USERS": "1000",
    "TRIBUTARY_HALLOW_PULL_EVENTS": str(PULL_EVENTS), "TRIBUTARY_HALLOW_PULL_STALL_S": "1.5",
    "TRIBUTARY_HALLOW_TIMEOUT_S": "1",
    "TRIBUTARY_SNAPSHOTS_PERIODS_S": "[2, 3600, 3600]",  # products change; the others do not
    "TRIBUTARY_DATASYNC_EVENTS": "1000", "TRIBUTARY_DATASYNC_SESSIONS": "50",
    "BOOKS_URL": f"http://127.0.0.1:{BOOKS_PORT}",
}
BOOKS_YAML = """
# A partner API none of the simulators knows: offset paging under other names, ids as
# numbers, a nested field, an epoch-seconds timestamp.
name: books
base_url: ${BOOKS_URL}
streams:
  - name: titles
    endpoint: /v2/books
    records_path: results
    total_path: paging.total
    primary_key: isbn
    pagination: {style: offset, offset_param: start, limit_param: size, limit: 40,
                 next_offset_path: paging.next}
    table: books
    partition_by: published
    columns:
      isbn: {from: id, required: true}
      title: {required: true}
      author: {from: author.name}
      pages: {type: bigint}
      published: {type: timestamp, from: published_s, required: true}
"""
BOOKS = [{"id": 978_000_000 + i, "title": f"Book {i}", "author": {"name": f"A{i % 7}"},
          "pages": 100 + i, "published_s": 1_700_000_000 + i * 86_400} for i in range(333)]
# The same partner's customers, each nested in an item: the records are a JSONPath projection.
PARTNER_YAML = """
name: partner
base_url: ${BOOKS_URL}
streams:
  - name: customers
    endpoint: /v1/customers
    records_path: "result.items[*].customer"
    primary_key: id
    pagination: {style: json_link, next_url_path: links.next}
    table: partner_customers
    columns:
      id: {required: true}
      name: {}
      country: {}
"""
CUSTOMERS = [{"id": 5_000 + i, "name": f"Customer {i}", "country": ["NL", "DE", "FR"][i % 3]}
             for i in range(60)]
CUSTOMERS_PAGE = 25


def _books_server() -> Any:
    async def books(request: Request) -> JSONResponse:
        start, size = int(request.query_params["start"]), int(request.query_params["size"])
        rows = BOOKS[start:start + size]
        more = start + size < len(BOOKS)
        return JSONResponse({"results": rows, "paging": {
            "total": len(BOOKS), "next": start + size if more else None}})

    async def customers(request: Request) -> JSONResponse:
        start = int(request.query_params.get("from", 0))
        rows = CUSTOMERS[start:start + CUSTOMERS_PAGE]
        more = start + CUSTOMERS_PAGE < len(CUSTOMERS)
        return JSONResponse({
            "result": {"items": [{"customer": c, "type": "account", "rank": i}
                                 for i, c in enumerate(rows, start)]},
            "links": {"next": f"{ENV['BOOKS_URL']}/v1/customers?from={start + CUSTOMERS_PAGE}"
                      if more else None}})

    return serve([Route("/v2/books", books), Route("/v1/customers", customers)], BOOKS_PORT)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    home = tmp_path_factory.mktemp("sources")
    folder = home / "sources"
    shutil.copytree(ROOT / "sources", folder)
    (folder / "books.yaml").write_text(BOOKS_YAML)
    (folder / "partner.yaml").write_text(PARTNER_YAML)
    books = _books_server()
    c, mp = start_cloud(home, ROOT / "template.yaml", BASE,
                        {**ENV, "TRIBUTARY_SOURCES_DIR": str(folder)},
                        polling=frozenset({"datasync", "hallow", "snapshots"}))
    yield c
    c.stack.down()
    mp.undo()
    books.should_exit = True


def _fetch(cloud: Cloud, source: str, *streams: str) -> dict[str, Any]:
    """One fetch, run now and waited for (as a schedule would start it, but forced)."""
    resp = cloud.client("lambda").invoke(FunctionName="tributary-fetch", Payload=json.dumps(
        {"source": source, "streams": list(streams), "force": True}))
    result: dict[str, Any] = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, result
    return result


def _settled(cloud: Cloud, source: str) -> bool:
    """Every page landed for ``source`` is loaded and in the lake, and the queue is empty."""
    sqs = cloud.client("sqs")
    depth = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName="tributary-transform")["QueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    pending = cloud.sql("SELECT count(*) FROM load_log WHERE source = %s AND NOT lake_done",
                   source)[0][0]
    return pending == 0 and set(depth.values()) == {"0"}


def _pull_calls() -> dict[str, int]:
    calls: dict[str, int] = httpx.get(f"{HALLOW}/stats").json()["pull_calls"]
    return calls


def _events_pages(cloud: Cloud) -> list[str]:
    if cloud.sql("SELECT to_regclass('load_log')") == [(None,)]:
        return []  # nothing loaded yet
    return [r[0] for r in cloud.sql("SELECT raw_key FROM load_log WHERE source = 'hallow' "
                                      "AND stream = 'events'")]


# -- hallow: pause mid-pass, resume where it stopped, complete despite 503s and stalls -----
def test_a_paused_source_stops_polling_and_resumes_where_it_stopped(cloud: Cloud) -> None:
    assert cloud.cli("ingest", "--source", "hallow").returncode == 0
    wait_for(lambda: len(_events_pages(cloud)) >= 3, 60, every=0.1, what="events pages")
    out = cloud.cli("pause", "hallow")
    assert out.returncode == 0 and "DISABLED" in out.stdout, out.stdout + out.stderr
    # The pass under way notices within a second and a page; a page may still be retrying
    # through 503s and stalls, so wait for the calls to stop before watching them.
    seen: list[dict[str, int]] = []

    def quiet() -> bool:
        seen.append(_pull_calls())
        return len(seen) > 1 and seen[-1] == seen[-2]

    wait_for(quiet, 30, every=2, what="the paused pass to stop")
    calls = _pull_calls()
    time.sleep(4)
    assert _pull_calls() == calls, "a paused source was still polled"
    _fetch(cloud, "hallow")  # a fetch started now skips the paused source
    assert _pull_calls() == calls
    refused = cloud.cli("ingest", "--source", "hallow", "--wait")  # as over HTTP: a 409
    assert refused.returncode == 1 and "Traceback" not in refused.stdout + refused.stderr
    assert "hallow is paused: resume it first (`tributary resume hallow`)" in refused.stdout
    stopped_at = len(_events_pages(cloud))
    assert stopped_at < math.ceil(PULL_EVENTS / 200), "paused too late to prove anything"

    assert "ENABLED" in cloud.cli("resume", "hallow").stdout
    done = cloud.cli("ingest", "--source", "hallow", "--wait", "--timeout", "180")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # Went on from its checkpoint: every page landed once, none fetched twice.
    pages = _events_pages(cloud)
    seqs = sorted(int(k.rsplit("-", 1)[1].split(".")[0]) for k in pages)
    assert seqs == list(range(math.ceil(PULL_EVENTS / 200)))


def test_the_flaky_events_endpoint_is_ingested_completely(cloud: Cloud) -> None:
    calls = _pull_calls()
    assert calls["errors"] > 0 and calls["stalls"] > 0, calls  # the chaos really happened
    api = PullApi(HallowSettings(pull_events=PULL_EVENTS))
    expected = {api.event(i)["event_id"]: api.event(i)["event_type"] for i in range(PULL_EVENTS)}
    assert dict(cloud.sql("SELECT event_id, event_type FROM hallow_events")) == expected
    assert cloud.sql("SELECT count(*), min(age), max(age) FROM hallow_users") == [(1000, 18, 82)]
    assert cloud.sql("SELECT count(DISTINCT prayer_type) FROM hallow_content") == [(6,)]


# -- snapshots ----------------------------------------------------------------------------
def _counts(cloud: Cloud, *streams: str) -> tuple[int, int, int, int]:
    raw = sum(len(cloud.keys("tributary-raw", f"source=snapshots/stream={s}/")) for s in streams)
    lake = sum(len(cloud.keys("tributary-lake", f"snap_{s}")) for s in streams)
    logged = cloud.sql("SELECT count(*) FROM load_log WHERE source = 'snapshots' AND "
                         "stream = ANY(%s)", list(streams))[0][0]
    history = sum(cloud.sql(f"SELECT count(*) FROM snap_{s}_history")[0][0]  # noqa: S608
                  for s in streams)
    return raw, lake, logged, history


def _checkpoints(cloud: Cloud, *streams: str) -> list[dict[str, Any]]:
    ddb = cloud.client("dynamodb")
    return [ddb.query(TableName="tributary-checkpoints", ConsistentRead=True,
                      KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": f"snapshots#{s}"}})["Items"]
            for s in streams]


def _without_check_times(items: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    return [[{k: v for k, v in item.items() if k != "finished_at"} for item in stream]
            for stream in items]


def test_unchanged_snapshots_answer_304_and_write_nothing(cloud: Cloud) -> None:
    first = _fetch(cloud, "snapshots", "prices", "stores")
    assert first["pages"] == 2
    wait_for(lambda: _settled(cloud, "snapshots"), 30, what="the first versions to load")
    before = _counts(cloud, "prices", "stores")
    assert before[0] == 2 and before[2] == 2 and before[3] > 0
    served = httpx.get(f"{SNAPSHOTS}/stats").json()
    checkpoints = _checkpoints(cloud, "prices", "stores")
    for _ in range(5):
        again = _fetch(cloud, "snapshots", "prices", "stores")
        assert (again["pages"], again["not_modified"]) == (0, 2), again
    time.sleep(1)
    assert _counts(cloud, "prices", "stores") == before  # no raw page, lake file, load, history
    # No lease taken, no pass reopened or ended. These fetches are forced (as `tributary
    # ingest` is), so each notes its check, the time the one who asked waits to see; a
    # scheduled 304 notes it once a minute at most.
    now = _checkpoints(cloud, "prices", "stores")
    assert _without_check_times(now) == _without_check_times(checkpoints)
    assert all(float(a["finished_at"]["N"]) > float(b["finished_at"]["N"])
               for x, y in zip(now, checkpoints, strict=True)
               for a, b in zip(x, y, strict=True) if a["sk"]["S"] != "_meta")
    after = httpx.get(f"{SNAPSHOTS}/stats").json()
    for name in ("prices", "stores"):
        assert after[name]["not_modified"] - served[name]["not_modified"] == 5
    rows = cloud.sql("SELECT count(*) FROM snap_prices")[0][0]
    assert rows == len(httpx.get(f"{SNAPSHOTS}/snapshots/prices").json()["items"])


def _raw_rows(cloud: Cloud, key: str) -> dict[str, dict[str, Any]]:
    body = cloud.client("s3").get_object(Bucket="tributary-raw", Key=key)["Body"].read()
    return {r["sku"]: r for r in orjson.loads(gzip.decompress(body))["items"]}


def test_a_changed_snapshot_records_exactly_the_rows_that_changed(cloud: Cloud) -> None:
    for _ in range(4):  # products regenerate every 2 s
        _fetch(cloud, "snapshots", "products")
        time.sleep(2.2)
    wait_for(lambda: _settled(cloud, "snapshots"), 30, what="the versions to load")
    keys = [r[0] for r in cloud.sql("SELECT raw_key FROM load_log WHERE source = 'snapshots' "
                                      "AND stream = 'products' ORDER BY fetched_at")]
    assert len(keys) >= 3
    previous: dict[str, dict[str, Any]] = {}
    for key in keys:
        rows = _raw_rows(cloud, key)
        expected = {(k, "appeared") for k in rows.keys() - previous.keys()} | {
            (k, "vanished") for k in previous.keys() - rows.keys()} | {
            (k, "changed") for k in rows.keys() & previous.keys() if rows[k] != previous[k]}
        recorded = set(cloud.sql("SELECT key, change FROM snap_products_history "
                                   "WHERE raw_key = %s", key))
        assert recorded == expected, key
        assert expected, "each fetched version differs from the one before"
        previous = rows
    current = cloud.sql("SELECT sku, price_cents FROM snap_products")
    assert dict(current) == {k: r["price_cents"] for k, r in previous.items()}
    lake = cloud.cli("query", "SELECT count(*) AS n FROM snap_products", "--format", "json")
    assert json.loads(lake.stdout)["rows"] == [[len(previous)]], lake.stdout + lake.stderr


# -- a new API by declaration alone ---------------------------------------------------------
def test_an_offset_api_needs_only_a_yaml_file(cloud: Cloud) -> None:
    out = cloud.cli("ingest", "--source", "books", "--wait", "--timeout", "120")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "books/titles" in out.stdout
    rows = cloud.sql("SELECT isbn, author, pages, (extract(epoch FROM published))::bigint "
                       "FROM books ORDER BY isbn")
    assert rows == [(str(b["id"]), b["author"]["name"], b["pages"], b["published_s"])
                    for b in sorted(BOOKS, key=lambda b: str(b["id"]))]
    pages = cloud.sql("SELECT count(*) FROM load_log WHERE source = 'books'")[0][0]
    assert pages == math.ceil(len(BOOKS) / 40)
    lake = cloud.cli("query", "SELECT count(DISTINCT isbn) AS n FROM books", "--format",
                "json")
    assert json.loads(lake.stdout)["rows"] == [[len(BOOKS)]], lake.stdout + lake.stderr


def test_records_selected_by_a_jsonpath_projection_are_ingested_exactly(cloud: Cloud
                                                                        ) -> None:
    """``result.items[*].customer``: the customer of every item is a record (issue 34)."""
    out = cloud.cli("ingest", "--source", "partner", "--wait", "--timeout", "120")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert cloud.sql("SELECT id, name, country FROM partner_customers ORDER BY id") == [
        (str(c["id"]), c["name"], c["country"]) for c in CUSTOMERS]
    assert cloud.sql("SELECT count(*), sum(records), sum(rejected) FROM load_log "
                     "WHERE source = 'partner'") == [
        (math.ceil(len(CUSTOMERS) / CUSTOMERS_PAGE), len(CUSTOMERS), 0)]
    lake = cloud.cli("query", "SELECT count(DISTINCT id) AS n FROM partner_customers",
                     "--format", "json")
    assert json.loads(lake.stdout)["rows"] == [[len(CUSTOMERS)]], lake.stdout + lake.stderr


@pytest.mark.parametrize(("name", "status"), [("timeline", 409), ("shop", 404), ("hallow", 409)])
def test_a_source_that_cannot_be_ingested_is_refused_alike_everywhere(
        cloud: Cloud, name: str, status: int) -> None:
    """A live source, an unknown one and a paused one: the CLI and the HTTP API say the same
    words (each then says how to do it on its own surface) and neither goes on."""
    if name == "hallow":
        assert cloud.cli("pause", "hallow").returncode == 0
    try:
        cli = cloud.cli("ingest", "--source", name, "--wait")
        http = httpx.post(f"{cloud.settings.runtime_url}/sources/{name}/ingest",
                          headers=cloud.auth, timeout=30)
    finally:
        if name == "hallow":
            assert cloud.cli("resume", "hallow").returncode == 0
    said = http.json()["message"].split(" (POST ")[0]
    assert (cli.returncode, http.status_code) == (1, status), cli.stdout + http.text
    assert said in " ".join(cli.stdout.split()), (said, cli.stdout)
    if name == "shop":
        assert "'timeline'" in said  # every declared source is listed, live ones too
