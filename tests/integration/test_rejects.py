"""Rejects are loud, and nothing they refer to is lost.

A partner API is declared wrongly (``coupon`` required; a fifth of the orders have none) and
three of its orders carry a truly unreadable time. The run must fail loudly: the summary
marks the stream failed with its top reasons and where to look, ``ingest --wait`` exits
non-zero, ``status --json`` names the stream. Once the declaration is fixed, ``replay
--rejects`` loads the rejected orders from the raw zone; the unreadable ones stay rejected.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from localcloud.ingest import lake_ids
from tests.conftest import ROOT, Cloud, serve, start_cloud

pytestmark = pytest.mark.integration
BASE = 4790
SHOP_PORT = BASE + 6
ORDERS_YAML = """
name: shop
base_url: http://127.0.0.1:{port}
streams:
  - name: orders
    endpoint: /orders
    records_path: orders
    primary_key: id
    pagination: {{style: single}}
    table: shop_orders
    partition_by: placed_at
    columns:
      id: {{required: true}}
      amount: {{type: double}}
      coupon: {{required: {required}}}
      placed_at: {{type: timestamp, from: placedAt, required: true}}
"""
ORDERS = [{"id": f"o{i}", "amount": i / 4, "placedAt": f"2026-11-{1 + i % 28:02d}T10:00:00+01:00",
           **({} if i % 5 == 0 else {"coupon": f"C{i % 13}"})} for i in range(500)]
UNREADABLE = {"o7", "o13", "o499"}
for _o in ORDERS:
    if _o["id"] in UNREADABLE:
        _o["placedAt"] = "soon"
MISSING_COUPON = {o["id"] for o in ORDERS if "coupon" not in o} - UNREADABLE


def _shop_server() -> Any:
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": ORDERS})

    return serve([Route("/orders", orders)], SHOP_PORT)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    home = tmp_path_factory.mktemp("rejects")
    folder = home / "sources"
    shutil.copytree(ROOT / "sources", folder)
    (folder / "shop.yaml").write_text(ORDERS_YAML.format(port=SHOP_PORT, required="true"))
    shop = _shop_server()
    c, mp = start_cloud(home, ROOT / "template.yaml", BASE,
                        {"TRIBUTARY_SOURCES_DIR": str(folder),
                         "TRIBUTARY_SCHEDULE_SCALE": "1000", "TRIBUTARY_HALLOW_PUSH": "false"},
                        polling=frozenset())
    yield c
    c.stack.down()
    mp.undo()
    shop.should_exit = True


@pytest.fixture(scope="module")
def failed_run(cloud: Cloud) -> subprocess.CompletedProcess[str]:
    return cloud.cli("ingest", "--source", "shop", "--wait", "--timeout", "120")


def test_a_stream_over_the_reject_threshold_fails_the_run(
        cloud: Cloud, failed_run: subprocess.CompletedProcess[str]) -> None:
    out = failed_run.stdout
    assert failed_run.returncode == 1, out + failed_run.stderr
    rejected = len(MISSING_COUPON) + len(UNREADABLE)
    assert f"{rejected} (20.6%)" in out and "FAILED: rejects above 1.0%" in out, out
    assert f"shop/orders: {rejected} of 500 records rejected" in out
    assert f"{len(MISSING_COUPON)}  coupon: Field required" in out
    assert "placed_at: unreadable timestamp" in out
    assert "tributary rejects --stream shop/orders" in out
    assert "e.g. raw page source=shop/stream=orders/" in out
    assert cloud.sql("SELECT count(*) FROM shop_orders")[0][0] == 500 - rejected


def test_status_json_says_which_stream_failed_and_why(
        cloud: Cloud, failed_run: subprocess.CompletedProcess[str]) -> None:
    out = cloud.cli("status", "--json")
    status = json.loads(out.stdout)
    assert status["failed"] == ["shop/orders"]
    orders = status["streams"]["shop/orders"]
    assert orders["failed"] is True and orders["reject_share"] == pytest.approx(103 / 500)
    assert [r["problem"] for r in orders["top_reasons"]] == [
        "coupon: Field required", "placed_at: unreadable timestamp"]
    listed = json.loads(cloud.cli("rejects", "--stream", "shop/orders", "--json").stdout)
    assert listed["streams"]["shop/orders"]["rejected"] == 103
    assert {r["record_id"] for r in listed["rejects"]} <= MISSING_COUPON | UNREADABLE


def test_fixed_rejects_replay_from_the_raw_zone(
        cloud: Cloud, failed_run: subprocess.CompletedProcess[str]) -> None:
    folder = cloud.settings.home_dir / "sources"
    (folder / "shop.yaml").write_text(ORDERS_YAML.format(port=SHOP_PORT, required="false"))
    runtime = cloud.stack.service("runtime")  # its workers read the fixed declaration
    cloud.stack.stop(runtime)
    cloud.stack.start(runtime)
    cloud.stack.wait_healthy(runtime, 30)
    raw_before = cloud.keys("tributary-raw", "source=shop/")
    out = cloud.cli("replay", "--rejects", "--source", "shop", "--timeout", "120")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"replayed: {len(MISSING_COUPON)} records loaded, 3 still rejected" in out.stdout
    assert cloud.keys("tributary-raw", "source=shop/") == raw_before  # read, not re-fetched
    rows = dict(cloud.sql("SELECT id, coupon FROM shop_orders"))
    assert set(rows) == {o["id"] for o in ORDERS} - UNREADABLE
    assert all(rows[i] is None for i in MISSING_COUPON)
    assert lake_ids(cloud.settings, "shop_orders") == (len(rows), len(rows))
    still = cloud.sql("SELECT record_id, reason FROM rejects WHERE source = 'shop'")
    assert {r[0] for r in still} == UNREADABLE
    assert all(r[1] == "placed_at: unreadable timestamp (got 'soon')" for r in still)
    status = json.loads(cloud.cli("status", "--json").stdout)
    assert status["failed"] == [] and status["streams"]["shop/orders"]["rejected"] == 3
    again = cloud.cli("replay", "--rejects", "--source", "shop", "--timeout", "120")
    assert "0 records loaded, 3 still rejected" in again.stdout  # nothing doubled
    assert lake_ids(cloud.settings, "shop_orders") == (len(rows), len(rows))
