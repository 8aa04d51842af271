"""The live viewer in real headless Chromium (Debian's, driven by Playwright) against the
embedded stack: first rows at a shared URL, live changes in place without moving the rows
being read, minimap jumps, keyboard, bounded DOM, history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localcloud.credentials import api_token
from tests.conftest import LIVE_BASE, ROOT, Cloud, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.needs("chromium")]
SIM = f"http://127.0.0.1:{LIVE_BASE + 7}"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def cloud(live_cloud: Cloud) -> Cloud:
    return live_cloud


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


def _open(browser: Any, cloud: Cloud, query: str = "") -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    # The link `tributary viewer` prints: the token rides in the fragment.
    page.goto(f"{cloud.settings.runtime_url}/viewer/{query}#token={api_token(cloud.settings)}")
    page.wait_for_selector(".row", timeout=15_000)
    page.wait_for_function("document.querySelector('[data-testid=status]')"
                           ".textContent.startsWith('live') && document.querySelector("
                           "'[data-testid=minimap]').dataset.buckets > 0", timeout=15_000)
    return page


def _rows(page: Any) -> list[dict[str, Any]]:
    """The rows on screen, top to bottom."""
    found = page.eval_on_selector_all(".row", """els => els.map(e => ({
        id: +e.dataset.id, t: +e.dataset.t, body: e.querySelector('.body').textContent,
        y: e.getBoundingClientRect().top, flash: e.classList.contains('flash')}))""")
    box = page.eval_on_selector(".list", "e => e.getBoundingClientRect().top")
    return sorted((r for r in found if r["y"] >= box - 1), key=lambda r: r["y"])


def _top_id(page: Any) -> int | None:
    rows = _rows(page)
    return rows[0]["id"] if rows else None


def _control(**body: Any) -> dict[str, Any]:
    resp = httpx.post(f"{SIM}/control", json=body, timeout=10)
    resp.raise_for_status()
    out: dict[str, Any] = resp.json()
    return out


def test_a_url_with_t_shows_the_same_first_row_anywhere(cloud: Cloud, browser: Any) -> None:
    t = int(time.time()) + 7 * 86_400
    page = _open(browser, cloud, f"?t={t}")
    first = _rows(page)[0]
    expect = cloud.sql("SELECT id, extract(epoch FROM timestamp)::bigint FROM timeline WHERE "
                       "NOT _deleted AND timestamp >= to_timestamp(%s) ORDER BY timestamp, id "
                       "LIMIT 1", t)[0]
    assert (first["id"], first["t"]) == expect
    page.wait_for_function("location.search.includes('k=')")  # the URL names the top row
    shared = page.url
    other = _open(browser, cloud, "?" + shared.split("?", 1)[1])
    assert _rows(other)[0]["id"] == first["id"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer.png"))
    page.close()
    other.close()


def test_changes_appear_in_place_without_moving_the_top_row(cloud: Cloud,
                                                             browser: Any) -> None:
    _control(paused=True)  # only the changes this test makes
    try:
        page = _open(browser, cloud, f"?t={int(time.time()) + 10 * 86_400}")
        rows = _rows(page)
        top, third, fifth = rows[0], rows[2], rows[4]
        _control(do=[{"type": "mutate", "id": third["id"]}])
        wait_for(lambda: next(r for r in _rows(page) if r["id"] == third["id"])["body"]
                 != third["body"], 10, 0.1, what="the mutate on screen")
        _control(do=[{"type": "insert", "timestamp": top["t"] - 1} for _ in range(3)])
        _control(do=[{"type": "delete", "id": fifth["id"]}])
        wait_for(lambda: fifth["id"] not in {r["id"] for r in _rows(page)}, 10, 0.1,
                 what="the delete on screen")
        now = _rows(page)
        assert now[0]["id"] == top["id"] and abs(now[0]["y"] - top["y"]) < 1, \
            "rows inserted above moved the row being read"
        page.keyboard.press("PageUp")  # the inserted rows are there, above
        above = {r["t"] for r in _rows(page)}
        assert top["t"] - 1 in above
        page.close()
    finally:
        _control(paused=False)


def test_minimap_jumps_keyboard_and_history(cloud: Cloud, browser: Any) -> None:
    page = _open(browser, cloud)
    start = _rows(page)[0]
    box = page.eval_on_selector("[data-testid=minimap]", "e => { const b = "
                                "e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height] }")
    page.mouse.click(box[0] + box[2] / 2, box[1] + box[3] * 0.9)
    hist = httpx.get(f"{cloud.settings.runtime_url}/live/histogram",
                     params={"buckets": 300}, headers=cloud.auth).json()
    target = hist["start"] + 0.9 * (hist["stop"] - hist["start"])
    wait_for(lambda: abs(_rows(page)[0]["t"] - target) < 2 * hist["bucket_s"] + 86_400, 10,
             0.1, what="rows from the clicked time")
    jumped = _rows(page)[0]
    for _ in range(30):
        page.keyboard.press("PageDown")
    assert page.eval_on_selector_all(".row", "els => els.length") < 200
    assert _rows(page)[0]["t"] >= jumped["t"]
    page.go_back()  # before the jump
    wait_for(lambda: _top_id(page) == start["id"], 10, 0.2, what="back to the start")
    page.keyboard.press("End")
    wait_for(lambda: (_rows(page) or [{"t": None}])[-1]["t"] == cloud.sql(
        "SELECT max(extract(epoch FROM timestamp))::bigint FROM timeline WHERE NOT _deleted"
    )[0][0], 10, 0.2, what="the last rows")
    page.close()


def test_the_page_needs_the_token_for_data(cloud: Cloud, browser: Any) -> None:
    assert httpx.get(f"{cloud.settings.runtime_url}/viewer/").status_code == 200
    page = browser.new_page()
    page.goto(f"{cloud.settings.runtime_url}/viewer/")
    page.wait_for_selector("[data-testid=problem]", timeout=10_000)
    assert "token" in page.text_content("[data-testid=problem]")
    page.close()


def test_site_answers(cloud: Cloud) -> None:
    base = f"{cloud.settings.runtime_url}/viewer"
    assert httpx.get(f"{base}/anything/deep").text == httpx.get(f"{base}/").text  # the app
    assert httpx.get(f"{base}/_app/missing.js").status_code == 404
    assert Path(ROOT / "functions" / "viewer" / "site" / "index.html").is_file()


def test_the_api_page_tries_every_api_with_the_token(cloud: Cloud, browser: Any) -> None:
    from localcloud.config import load_stack

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{cloud.settings.runtime_url}/viewer/api/")  # no token yet: it asks
    page.fill("#token", api_token(cloud.settings))
    page.click("#token-form button")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    assert "/sources/{name}/pause" in page.inner_text(".swagger-ui")
    # Try GET /sources: the page sends the token, and the answer is the sources.
    page.click(".opblock-get:has(.opblock-summary-path[data-path='/sources']) .opblock-summary")
    page.click(".opblock.is-open button.execute")
    status = page.wait_for_selector(".opblock.is-open .live-responses-table tbody "
                                    ".response-col_status", timeout=15_000)
    assert status.inner_text().strip() == "200"
    body = page.inner_text(".opblock.is-open .live-responses-table .microlight")
    assert '"timeline"' in body and '"sources"' in body, body[:500]
    # Every OpenAPI document the template routes is offered, and each one loads.
    documents = sorted(r.path for fn in load_stack(cloud.settings).functions for r in fn.routes
                       if r.path.endswith("/openapi.json"))
    offered = page.eval_on_selector_all("select#select option", "os => os.map(o => o.value)")
    assert sorted(offered) == documents, offered
    for document in documents:
        page.select_option("select#select", document)
        page.wait_for_selector(f".info a[href='{document}']", timeout=15_000)
        prefix = document.removesuffix("/openapi.json")
        page.wait_for_selector(f".opblock-summary-path[data-path^='{prefix}']", timeout=15_000)
    page.close()


def test_the_api_page_is_served_with_its_assets(cloud: Cloud) -> None:
    base = f"{cloud.settings.runtime_url}/viewer/api"
    slashless = httpx.get(base)
    assert slashless.status_code == 308 and slashless.headers["location"] == "/viewer/api/"
    assert "swagger-ui-bundle.js" in httpx.get(f"{base}/").text
    bundle = httpx.get(f"{base}/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:2_000_000]
