"""Declared sources for the APIs people connect, against the bazaar simulator with chaos
(429s, 5xx, tokens refused early and expiring mid-run, GraphQL errors in 200 answers):
Link-header pages, child streams with their parent's fields, JSONPath records and a composite
key, the next URL in the body, a cursor in a header, an updated_since parameter with a
lookback; GraphQL (POST, the cursor in the body), a cursor from the last record, a fixed list
of partitions, an incremental export; OAuth2, a query key, a cookie, HTTP basic. Every stream
lands exactly the simulator's records, through SIGKILLs of the runtime."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localcloud.config import emulator_client
from localcloud.ingest import verify
from simulators.bazaar import data, ledger
from tests.conftest import ROOT, Cloud, sigkill_and_restart, start_cloud, wait_for

pytestmark = pytest.mark.integration
BASE = 4920
SIM = f"http://127.0.0.1:{BASE + 9}"
ENV = {"TRIBUTARY_BAZAAR_TOKEN_TTL_S": "4", "TRIBUTARY_BAZAAR_REVOKE_RATE": "0.05",
       "TRIBUTARY_BAZAAR_RATE_429": "0.04", "TRIBUTARY_BAZAAR_RATE_5XX": "0.04",
       "TRIBUTARY_BAZAAR_USERS": "180", "TRIBUTARY_HALLOW_PUSH": "false",
       "TRIBUTARY_BAZAAR_GRAPHQL_ERROR_RATE": "0.3", "TRIBUTARY_BAZAAR_MEMBERS_SCALE": "6",
       # A killed fetcher's partitions and a killed transform's messages come back soon.
       "TRIBUTARY_FETCH_LEASE_S": "4", "TRIBUTARY_PARAM_TransformVisibilityTimeout": "6"}
SECRETS = ("bazaar-secret", "bz-key", "bz-session", "bz-pass", "bz-refresh-0")
TABLES = {"users": "bazaar_users", "orders": "bazaar_orders", "order_lines": "bazaar_order_lines",
          "products": "bazaar_products", "reviews": "bazaar_reviews",
          "articles": "bazaar_articles", "invoices": "bazaar_invoices",
          "charges": "bazaar_charges", "members": "bazaar_members", "tickets": "bazaar_tickets",
          "payments": "bazaar_payments"}


def _count(cloud: Cloud, table: str) -> int:
    exists = cloud.sql("SELECT to_regclass(%s)", table)[0][0]
    return int(cloud.sql(f"SELECT count(*) FROM {table}")[0][0]) if exists else 0


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("bazaar"), ROOT / "template.yaml", BASE, ENV,
                        polling=frozenset())
    try:
        yield c
    finally:
        c.stack.down()
        mp.undo()


def _pages(cloud: Cloud, stream: str) -> int:
    if cloud.sql("SELECT to_regclass('load_log')")[0][0] is None:
        return 0
    return int(cloud.sql("SELECT count(*) FROM load_log WHERE source = 'bazaar' AND "
                         "stream = %s", stream)[0][0])


@pytest.fixture(scope="module")
def ingested(cloud: Cloud) -> dict[str, Any]:
    """An ingestion with the runtime SIGKILLed twice: while the Link-paginated, OAuth2 users
    listing is under way, and while the child streams are."""
    assert cloud.cli("resume", "bazaar").returncode == 0
    assert cloud.cli("ingest", "--source", "bazaar").returncode == 0
    wait_for(lambda: _pages(cloud, "users") >= 1, 90, 0.02, what="users pages landing")
    assert _pages(cloud, "users") < 4, "the users listing ended before the kill"
    sigkill_and_restart(cloud)
    assert cloud.cli("ingest", "--source", "bazaar").returncode == 0
    wait_for(lambda: _count(cloud, "bazaar_orders") > 0, 90, 0.05, what="child pages loading")
    sigkill_and_restart(cloud)
    done = cloud.cli("ingest", "--source", "bazaar", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    stats: dict[str, Any] = httpx.get(f"{SIM}/stats", timeout=10).json()
    return stats


def test_every_stream_lands_exactly_the_upstreams_records(cloud: Cloud,
                                                          ingested: dict[str, Any]) -> None:
    kept = [p for p in ledger.payments(11, ingested["payments"]) if p["status"] != "void"]
    for stream, table in TABLES.items():
        told = len(kept) if stream == "payments" else ingested[stream]  # the filter's doing
        assert _count(cloud, table) == (sum(told.values()) if isinstance(told, dict) else told), \
            stream
    assert ingested["tokens_issued"] > 1 and ingested["refused_401"] > 0  # renewed mid-run
    assert ingested["graphql_errors"] > 0  # 200s holding errors were tried again
    # The members' refresh token rotated at every refresh, through two SIGKILLs, and a
    # retired one was never sent: each process took the newest from Secrets Manager.
    assert ingested["refreshes"] > 1 and ingested["invalid_grant"] == 0
    assert ingested["rate_limited"] > 0 and ingested["server_errors"] > 0  # chaos happened
    seed, users = 11, int(ENV["TRIBUTARY_BAZAAR_USERS"])
    want = {o["order_id"]: f"user{uid:04d}" for uid in range(1, users + 1)
            if data.user_status(uid) == 200 for o in data.orders(seed, uid)}
    assert dict(cloud.sql("SELECT order_id, user_login FROM bazaar_orders")) == want
    lines = cloud.sql("SELECT _key, order_id, line_no FROM bazaar_order_lines")
    assert all(k == f'["{o}","{n}"]' for k, o, n in lines)
    assert len({(o, n) for _, o, n in lines}) == ingested["order_lines"]
    assert cloud.sql("SELECT price_cents, currency FROM bazaar_products WHERE sku = 'p-00001'"
                     ) == [(data.products(seed, 1)[0]["price"]["cents"], "EUR")]
    invoices = {i["id"]: (i["amountCents"], i["customer"]["id"])
                for i in ledger.invoices(seed, ingested["invoices"])}
    assert {k: (a, c) for k, a, c in cloud.sql(
        "SELECT id, amount_cents, customer_id FROM bazaar_invoices")} == invoices
    assert dict(cloud.sql("SELECT org, count(*) FROM bazaar_members GROUP BY org")) == {
        org: n for org, n in ledger.org_sizes(6).items() if n}  # initech: an empty partition
    # The export's gzip CSV, filtered (no void payment) and mapped (amount_minor renamed);
    # an empty cell is a null.
    assert {r[0]: r[1:] for r in cloud.sql(
        "SELECT id, amount_cents, note FROM bazaar_payments")} == {
        p["id"]: (int(p["amount_minor"]), p["note"] or None) for p in kept}


def test_the_lake_holds_each_row_once(cloud: Cloud, ingested: dict[str, Any]) -> None:
    verdicts = {v.stream: v for v in verify(cloud.settings, {"bazaar"})}
    assert sorted(verdicts) == sorted(f"bazaar/{s}" for s in TABLES)
    for v in verdicts.values():
        assert v.ok and v.lake_rows == v.postgres_rows and v.lake_duplicates == 0, v


def test_an_incremental_stream_fetches_only_what_changed(cloud: Cloud,
                                                         ingested: dict[str, Any]) -> None:
    before = dict(cloud.sql("SELECT id, revision FROM bazaar_articles"))
    pages = cloud.sql("SELECT count(*) FROM load_log WHERE stream = 'articles'")[0][0]
    edited = httpx.post(f"{SIM}/_edit", timeout=10).json()["ticks"]
    done = cloud.cli("ingest", "--source", "bazaar", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:]
    after = dict(cloud.sql("SELECT id, revision FROM bazaar_articles"))
    changed = {i for i in after if after[i] != before[i]}
    truth = data.articles(11, 300, edited, 3)
    assert changed == {str(a["id"]) for a in truth if a["revision"] > 1} and len(changed) == 3
    new_pages = cloud.sql("SELECT count(*) FROM load_log WHERE stream = 'articles'")[0][0]
    read = cloud.sql("SELECT records FROM load_log WHERE stream = 'articles' "
                     "ORDER BY fetched_at DESC LIMIT 1")[0][0]
    # One page: the three edits, and article 300 again (the last minute before the highest
    # value seen, read again by the declared 60 s lookback).
    assert new_pages == pages + 1 and read == 3 + 1


def test_an_export_goes_on_from_where_it_ended(cloud: Cloud, ingested: dict[str, Any]) -> None:
    """The tickets export resumes at its last page's start_time: an edit shows up in one
    page, the edge repeated (start_time is inclusive) and absorbed by the key."""
    pages = cloud.sql("SELECT count(*) FROM load_log WHERE stream = 'tickets'")[0][0]
    edited = httpx.post(f"{SIM}/_edit", timeout=10).json()["ticks"]
    done = cloud.cli("ingest", "--source", "bazaar", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:]
    truth = ledger.tickets(11, ingested["tickets"], edited, 3)
    assert dict(cloud.sql("SELECT id, status FROM bazaar_tickets")) == {
        str(t["id"]): t["status"] for t in truth}
    assert cloud.sql("SELECT count(*) FROM load_log WHERE stream = 'tickets'")[0][0] == pages + 1


def _partition(cloud: Cloud, stream: str) -> list[dict[str, Any]]:
    """The stream's checkpoint items, each attribute's plain value (a NULL is None)."""
    items = cloud.client("dynamodb").query(
        TableName="tributary-checkpoints", ConsistentRead=True,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"bazaar#{stream}"}})["Items"]
    return [{k: None if "NULL" in v else next(iter(v.values())) for k, v in item.items()}
            for item in items if item["sk"]["S"] != "_meta"]


def _mid_pass(cloud: Cloud, stream: str, before: dict[str, int]) -> bool:
    """Some partition of ``stream`` has landed two pages of a pass and is not done."""
    return any(int(p["seq"]) >= before.get(p["sk"], 0) + 2 and p["status"] == "pending"
               for p in _partition(cloud, stream))


def _kill_mid_pass(cloud: Cloud, stream: str) -> dict[str, int]:
    """A forced pass of the source, SIGKILLed once a partition of ``stream`` has landed two
    pages of it; its partitions' pages landed before the pass."""
    before = {p["sk"]: int(p["seq"]) for p in _partition(cloud, stream)}
    assert cloud.cli("ingest", "--source", "bazaar").returncode == 0
    wait_for(lambda: _mid_pass(cloud, stream, before), 90, 0.02,
             what=f"a {stream} pass under way")
    sigkill_and_restart(cloud)
    assert any(p["status"] == "pending" and p.get("cursor") for p in _partition(cloud, stream))
    return before


def test_a_kill_in_the_middle_of_a_graphql_pass_repeats_at_most_a_page(
        cloud: Cloud, ingested: dict[str, Any]) -> None:
    """A full pass of the GraphQL stream, then one of the partitioned stream, each killed
    after a few pages: the next run goes on from the checkpointed cursors, and every table is
    exact."""
    before = _kill_mid_pass(cloud, "invoices")
    _kill_mid_pass(cloud, "members")
    # The members' pass resumed the invoices; the second kill may have found that pass done
    # (the final forced ingest then starts a new one) or still under way.
    resumed = {p["sk"]: (int(p["seq"]), p["status"]) for p in _partition(cloud, "invoices")}
    done = cloud.cli("ingest", "--source", "bazaar", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:]
    pages = -(-ingested["invoices"] // 50)
    after = {p["sk"]: int(p["seq"]) for p in _partition(cloud, "invoices")}
    # The resumed pass fetched the rest of the listing, and at most one page again per kill.
    for k, (seq, status) in resumed.items():
        ended = seq if status == "done" else after[k]
        assert ended - before[k] <= pages + (1 if status == "done" else 2), (before, resumed,
                                                                             after)
    verdicts = {v.stream: v for v in verify(cloud.settings, {"bazaar"})}
    for name in ("bazaar/invoices", "bazaar/members"):
        v = verdicts[name]
        assert v.ok and v.lake_rows == v.postgres_rows and v.lake_duplicates == 0, v


def test_no_secret_is_logged_or_kept(cloud: Cloud, ingested: dict[str, Any]) -> None:
    logs = cloud.settings.home_dir / "logs"
    text = "".join(p.read_text(errors="replace") for p in logs.rglob("*.log")
                   if "bazaar.log" not in p.name)
    assert not [s for s in SECRETS if s in text]
    s3 = emulator_client("s3", cloud.settings)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="tributary-raw", Prefix="source=bazaar/") for o in page.get("Contents", [])]
    assert keys
    for key in keys[:40]:
        obj = s3.get_object(Bucket="tributary-raw", Key=key)
        body = gzip.decompress(obj["Body"].read()).decode()
        assert not [s for s in SECRETS if s in body + str(obj["Metadata"])]


def test_an_export_job_in_flight_is_polled_again_after_a_kill_never_started_twice(
        cloud: Cloud, ingested: dict[str, Any]) -> None:
    jobs = httpx.get(f"{SIM}/stats", timeout=10).json()["export_jobs"]
    assert cloud.cli("ingest", "--source", "bazaar").returncode == 0
    wait_for(lambda: any(str(p.get("cursor", "")).startswith("job:")
                         for p in _partition(cloud, "payments")), 90, 0.02,
             what="an export job started")
    sigkill_and_restart(cloud)  # the job runs for 3 s: killed while it is queued or running
    (saved,) = _partition(cloud, "payments")
    assert saved["status"] == "pending" and str(saved["cursor"]).startswith("job:"), saved
    job = str(saved["cursor"]).split(":")[1]
    done = cloud.cli("ingest", "--source", "bazaar", "--wait", "--timeout", "240")
    assert done.returncode == 0, done.stdout[-3000:]
    stats = httpx.get(f"{SIM}/stats", timeout=10).json()
    # The job in flight at the kill was polled again and its file read: the pass did not
    # start another. (A later forced pass, if the wait triggers one, starts its own.)
    assert job == f"exp_{jobs + 1:04d}" and stats["export_downloads"].get(job, 0) >= 1, stats
    (after,) = _partition(cloud, "payments")
    assert after["status"] == "done" and after.get("cursor") is None, after
    v = {v.stream: v for v in verify(cloud.settings, {"bazaar"})}["bazaar/payments"]
    assert v.ok and v.lake_rows == v.postgres_rows and v.lake_duplicates == 0, v
