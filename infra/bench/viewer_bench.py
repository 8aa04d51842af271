"""Live viewer benchmark, in Debian's headless Chromium (Playwright), on a fresh stack per size.

    .venv/bin/python infra/bench/viewer_bench.py                 # 100,000 and 1,000,000 rows
    .venv/bin/python infra/bench/viewer_bench.py --rows 100000

Prints, per table size:
- first rows: from navigation to the first row element in the page (p50/p95 of 10 loads);
- jump: from a click on the minimap to the rows of that time on screen (p50/p95 of 10);
- change visible: from asking upstream to mutate a row on screen to its new text in the
  page (p50/p99 of 20; upstream's broadcast, the consumer, PostgreSQL, the fan-out, the
  browser);
- JS heap after 40 jumps from one end of the range to the other with scrolling at each,
  and the page's DOM element and row element counts;
- frames per second while wheel-scrolling for 3 s (requestAnimationFrame callbacks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_stack, percentile  # noqa: E402

BASE = 5300
SIM = f"http://127.0.0.1:{BASE + 6}"
CHROMIUM = "/usr/bin/chromium"

# Marks when the first row appears and when the top row changes (page clock).
WATCH = """
window.__marks = {first: null, topChanged: null};
new MutationObserver(() => {
  const row = document.querySelector('.row');
  if (row && window.__marks.first === null) window.__marks.first = performance.now();
}).observe(document, {subtree: true, childList: true});
"""


def _wait_copied(settings: Any, rows: int) -> None:
    import psycopg

    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
            if conn.execute("SELECT to_regclass('timeline') IS NOT NULL").fetchone()[0] and \
                    conn.execute("SELECT count(*) FROM timeline").fetchone()[0] >= rows:
                return
        time.sleep(1)
    raise TimeoutError("the first copy did not finish")


def _top(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate("""() => {
        const list = document.querySelector('.list').getBoundingClientRect().top;
        const rows = [...document.querySelectorAll('.row')].map(e => ({
            id: +e.dataset.id, t: +e.dataset.t, y: e.getBoundingClientRect().top,
            body: e.querySelector('.body').textContent}))
          .filter(r => r.y >= list - 1).sort((a, b) => a.y - b.y);
        return rows[0] ? {...rows[0], third: rows[2]} : null; }""")
    return out


def _first_rows(browser: Any, url: str) -> list[float]:
    times = []
    for _ in range(10):
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.add_init_script(WATCH)
        page.goto(url)
        page.wait_for_selector(".row")
        times.append(float(page.evaluate("window.__marks.first")))
        page.close()
    return times


def _jumps(page: Any) -> list[float]:
    box = page.eval_on_selector("[data-testid=minimap]", "e => { const b = "
                                "e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height] }")
    times = []
    for i in range(10):
        before = _top(page)["id"]
        share = 0.05 + 0.09 * i
        started = page.evaluate("performance.now()")
        page.mouse.click(box[0] + box[2] / 2, box[1] + box[3] * share)
        page.wait_for_function(f"(() => {{ const r = document.querySelector('.row'); "
                               f"return r && [...document.querySelectorAll('.row')].every("
                               f"e => +e.dataset.id !== {before} || "
                               f"e.getBoundingClientRect().top < 0); }})()", polling="raf")
        times.append(float(page.evaluate("performance.now()")) - started)
    return times


def _changes(page: Any) -> list[float]:
    httpx.post(f"{SIM}/control", json={"paused": True}).raise_for_status()
    out = []
    try:
        for _ in range(20):
            row = _top(page)["third"]
            page.evaluate(f"""() => {{ window.__seen = null; const id = {row['id']};
                const el = [...document.querySelectorAll('.row')].find(e => +e.dataset.id === id);
                const old = el.querySelector('.body').textContent;
                new MutationObserver((_, obs) => {{
                  if (el.querySelector('.body').textContent !== old) {{
                    window.__seen = Date.now(); obs.disconnect(); }}
                }}).observe(el, {{subtree: true, childList: true, characterData: true}}); }}""")
            asked = time.time() * 1000
            httpx.post(f"{SIM}/control", json={"do": [{"type": "mutate", "id": row["id"]}]}
                       ).raise_for_status()
            page.wait_for_function("window.__seen !== null", timeout=10_000)
            out.append(float(page.evaluate("window.__seen")) - asked)
            time.sleep(0.2)
    finally:
        httpx.post(f"{SIM}/control", json={"paused": False}).raise_for_status()
    return out


def _heap_after_roaming(page: Any) -> dict[str, Any]:
    box = page.eval_on_selector("[data-testid=minimap]", "e => { const b = "
                                "e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height] }")
    for i in range(40):
        share = (i % 20) / 19
        page.mouse.click(box[0] + box[2] / 2, box[1] + 1 + (box[3] - 2) * share)
        page.wait_for_timeout(150)
        for _ in range(5):
            page.keyboard.press("PageDown")
        page.wait_for_timeout(50)
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    counters = cdp.send("Memory.getDOMCounters")
    return {"js_heap_mb": round(heap["usedSize"] / 2**20, 1),
            "dom_nodes": counters["nodes"],
            "row_elements": page.eval_on_selector_all(".row", "els => els.length"),
            "rows_held": page.evaluate("document.querySelector('.list')"
                                       ".getAttribute('aria-rowcount')")}


def _fps(page: Any) -> float:
    page.evaluate("""() => { window.__frames = 0; const tick = () => { window.__frames++;
        if (!window.__stopFrames) requestAnimationFrame(tick); }; requestAnimationFrame(tick); }""")
    box = page.eval_on_selector(".list", "e => { const b = e.getBoundingClientRect(); "
                                "return [b.x + b.width / 2, b.y + b.height / 2] }")
    page.mouse.move(*box)
    started = time.monotonic()
    page.evaluate("window.__frames = 0")
    while time.monotonic() - started < 3:
        page.mouse.wheel(0, 120)
    frames = int(page.evaluate("window.__frames"))
    page.evaluate("window.__stopFrames = true")
    return round(frames / (time.monotonic() - started), 1)


def run(rows: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from localcloud.credentials import api_token

    settings, stack = fresh_stack(BASE, "viewer", {
        "TRIBUTARY_TIMELINE_ROWS": str(rows), "TRIBUTARY_SCHEDULE_SCALE": "0.05"},
        polling=frozenset({"timeline"}))
    try:
        _wait_copied(settings, rows)
        t = int(time.time()) + 12 * 86_400
        url = f"{settings.runtime_url}/viewer/?t={t}#token={api_token(settings)}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-background-networking", "--enable-precise-memory-info"])
            first = _first_rows(browser, url)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            page.wait_for_selector(".row")
            page.wait_for_function("document.querySelector('[data-testid=status]')"
                                   ".textContent.startsWith('live') && document.querySelector("
                                   "'[data-testid=minimap]').dataset.buckets > 0")
            jumps = _jumps(page)
            changes = _changes(page)
            memory = _heap_after_roaming(page)
            fps = _fps(page)
            browser.close()
        return {"rows": rows,
                "first_rows_ms": {"p50": round(percentile(first, 0.5), 1),
                                  "p95": round(percentile(first, 0.95), 1)},
                "jump_ms": {"p50": round(percentile(jumps, 0.5), 1),
                            "p95": round(percentile(jumps, 0.95), 1)},
                "change_visible_ms": {"p50": round(percentile(changes, 0.5), 1),
                                      "p99": round(percentile(changes, 0.99), 1)},
                **memory, "scroll_fps": fps}
    finally:
        stack.down()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    for rows in args.rows:
        print(json.dumps(run(rows)), flush=True)


if __name__ == "__main__":
    main()
