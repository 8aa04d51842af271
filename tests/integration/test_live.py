"""The live timeline source on the embedded stack: the copy stays exact with changes flowing,
sockets dropped, holders handing over every few seconds and one SIGKILLed; subscribers get
every change in their range, in order, and catch up after reconnecting."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from localcloud.credentials import api_token
from tests.conftest import LIVE_BASE, Cloud, wait_for
from tributary.live.subscriber import Subscriber

pytestmark = pytest.mark.integration
BASE = LIVE_BASE
SIM = f"http://127.0.0.1:{BASE + 7}"


@pytest.fixture
def cloud(live_cloud: Cloud) -> Cloud:
    return live_cloud


def _control(paused: bool) -> None:
    httpx.post(f"{SIM}/control", json={"paused": paused}, timeout=10).raise_for_status()


def _upstream() -> set[tuple[int, int, str]]:
    rows = httpx.get(f"{SIM}/data", timeout=60).json()
    return {(r["id"], r["timestamp"], r["body"]) for r in rows}


def _local(cloud: Cloud) -> set[tuple[int, int, str]]:
    return {(r[0], int(r[1]), r[2]) for r in cloud.sql(
        "SELECT id, extract(epoch FROM timestamp)::bigint, body FROM timeline "
        "WHERE NOT _deleted")}


def _exact_after_pause(cloud: Cloud) -> None:
    """Hold upstream still; the copy must become exactly upstream's table within seconds."""
    _control(True)
    try:
        up = _upstream()
        wait_for(lambda: _local(cloud) == up, 40, 0.5, what="the copy to equal upstream")
    finally:
        _control(False)


def _results(cloud: Cloud) -> list[dict[str, Any]]:
    import orjson

    log = Path(cloud.settings.home_dir) / "logs" / "functions" / "tributary-live.log"
    return [orjson.loads(line) for line in log.read_text().splitlines()
            if '"live consumer finished"' in line]


def test_copy_is_exact_with_changes_drops_and_handovers(cloud: Cloud) -> None:
    # Changes flow, sockets drop, holders hand over; a subscriber watches all along.
    now = int(time.time())
    start, stop = now, now + 10 * 86_400
    sub = Subscriber(f"ws://127.0.0.1:{BASE + 1}/ws/tributary-live", api_token(cloud.settings))
    sub.subscribe(start, stop)
    first = sub.last
    seqs = [c["seq"] for _, c in sub.changes(16)]
    sub.close()
    assert seqs == _log_since(cloud, first, start, stop)[:len(seqs)], "missed or out of order"
    wait_for(lambda: sum(r["result"] == "handed over" for r in _results(cloud)) >= 2, 60,
             1, what="two handovers")
    stats = httpx.get(f"{SIM}/stats", timeout=10).json()
    assert stats["drops"] >= 1, stats
    _exact_after_pause(cloud)
    repeated = cloud.sql("SELECT count(*) - count(DISTINCT message) FROM timeline_changes "
                         "WHERE origin = 'stream'")[0][0]
    assert repeated == 0, "a message was applied twice"
    assert cloud.sql("SELECT count(*) FROM timeline_changes WHERE origin = 'stream'")[0][0] > 100


def test_a_sigkilled_holder_is_replaced_and_the_copy_repaired(cloud: Cloud) -> None:
    stats = httpx.get(f"{cloud.settings.runtime_url}/_runtime/stats", timeout=10).json()
    pids = stats["functions"]["tributary-live"]["worker_pids"]
    assert pids, stats["functions"]["tributary-live"]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(8)  # changes flow while nobody holds the stream
    _exact_after_pause(cloud)
    assert cloud.sql("SELECT count(*) - count(DISTINCT message) FROM timeline_changes "
                     "WHERE origin = 'stream'")[0][0] == 0


def _log_since(cloud: Cloud, after: int, start: int, stop: int) -> list[int]:
    return [r[0] for r in cloud.sql(
        "SELECT seq FROM timeline_changes WHERE seq > %s AND time >= to_timestamp(%s) "
        "AND time < to_timestamp(%s) ORDER BY seq", after, start, stop)]


def test_a_subscriber_gets_its_range_in_order_and_catches_up(cloud: Cloud) -> None:
    url = f"ws://127.0.0.1:{BASE + 1}/ws/tributary-live"
    now = int(time.time())
    start, stop = now + 5 * 86_400, now + 15 * 86_400  # a third of the table's range
    sub = Subscriber(url, api_token(cloud.settings))
    sub.subscribe(start, stop)
    first = sub.last
    got = [c for _, c in sub.changes(6)]
    sub.close()
    seqs = [c["seq"] for c in got]
    assert got and all(start <= c["time"] < stop for c in got)
    assert seqs == sorted(seqs)
    assert seqs == _log_since(cloud, first, start, stop)[:len(seqs)]

    time.sleep(3)  # away: changes go on
    caught = sub.subscribe(start, stop, after=seqs[-1])
    more = [c for _, c in sub.changes(3)]
    sub.close()
    both = [c["seq"] for c in caught + more]
    assert caught, "nothing happened in 3 s in a third of the table?"
    assert both == _log_since(cloud, seqs[-1], start, stop)[:len(both)]


def test_the_socket_wants_the_token_and_a_valid_subscription(cloud: Cloud) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{BASE + 1}/ws/tributary-live"
    for query, status in (("", 401), ("?token=wrong", 403)):
        with pytest.raises(InvalidStatus) as exc:
            connect(url + query)
        assert exc.value.response.status_code == status
    with connect(f"{url}?token={api_token(cloud.settings)}") as ws:
        ws.send('{"action": "subscribe", "start": 10, "stop": 5}')
        assert "start must be below stop" in str(ws.recv(timeout=10))
        ws.send('{"action": "subscribe", "start": "soon", "stop": 5}')
        assert "start" in str(ws.recv(timeout=10))
        ws.send("not json")
        assert "not JSON" in str(ws.recv(timeout=10))


def test_the_upstream_contract(cloud: Cloud) -> None:
    assert httpx.get(f"{SIM}/data?begin=1").json() == {"error": "unknown parameter begin"}
    assert httpx.get(f"{SIM}/data?start=x").status_code == 400
    now = int(time.time())
    resp = httpx.get(f"{SIM}/data", params={"start": now, "stop": now + 86_400})
    rows = resp.json()
    assert rows and all(now <= r["timestamp"] < now + 86_400 for r in rows)
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    _control(True)
    try:
        etag = httpx.get(f"{SIM}/data", params={"start": 0, "stop": now}).headers["etag"]
        again = httpx.get(f"{SIM}/data", params={"start": 0, "stop": now},
                          headers={"If-None-Match": etag})
        assert again.status_code == 304
    finally:
        _control(False)


def test_rows_by_keyset_and_the_histogram_read_the_copy(cloud: Cloud) -> None:
    api = f"{cloud.settings.runtime_url}/live"
    _control(True)
    try:
        up = sorted(_upstream(), key=lambda r: (r[1], r[0]))
        wait_for(lambda: _local(cloud) == set(up), 40, 0.5, what="the copy to settle")
        t = int(time.time()) + 3 * 86_400
        later = [r for r in up if r[1] >= t]
        page1 = httpx.get(f"{api}/rows", params={"t": t, "limit": 50}, headers=cloud.auth)
        body = page1.json()
        nxt = body["next"]
        page2 = httpx.get(f"{api}/rows", params={"t": nxt["t"], "key": nxt["key"],
                                                 "limit": 50}, headers=cloud.auth).json()
        got = [(r["id"], r["timestamp"], r["body"]) for r in body["rows"] + page2["rows"]]
        assert got == later[:100]
        assert body["seq"] == cloud.sql("SELECT max(seq) FROM timeline_changes")[0][0]
        before = httpx.get(f"{api}/rows", params={"t": t, "dir": "before", "limit": 20},
                           headers=cloud.auth).json()["rows"]
        assert [(r["id"], r["timestamp"], r["body"]) for r in before] == \
            [r for r in up if r[1] < t][-20:]
        hist = httpx.get(f"{api}/histogram", params={"buckets": 30},
                         headers=cloud.auth).json()
        assert sum(hist["counts"]) == len(up) and hist["start"] == up[0][1]
        found = httpx.get(f"{api}/rows", params={"t": 0, "q": "LANTERN", "limit": 1000},
                          headers=cloud.auth).json()["rows"]
        assert found and all("lantern" in r["body"].lower() for r in found)
        assert len(found) == min(1000, sum("lantern" in r[2].lower() for r in up))
    finally:
        _control(False)
    assert httpx.get(f"{api}/rows", params={"t": 0}).status_code == 401
    bad = httpx.get(f"{api}/rows", params={"t": "soon"}, headers=cloud.auth)
    assert bad.status_code == 422 and "t" in bad.json()["message"]


def test_pause_stops_the_holder(cloud: Cloud) -> None:
    def newest() -> int:
        return int(cloud.sql("SELECT coalesce(max(seq), 0) FROM timeline_changes")[0][0])

    def still_for(seconds: float) -> bool:
        seen = newest()
        time.sleep(seconds)
        return newest() == seen

    # Changes flow while it runs, so a copy standing still says the holder stopped.
    start = newest()
    wait_for(lambda: newest() > start, 30, what="changes to flow before the pause")
    out = cloud.cli("pause", "timeline")
    assert out.returncode == 0, out.stderr
    try:
        wait_for(lambda: any(r["result"] == "paused" for r in _results(cloud)), 20,
                 what="the holder to stop")
        # A "paused" may come from an invocation that never held the stream while the holder
        # is still finishing its batch and last flush: wait for stillness, then that it stays.
        wait_for(lambda: still_for(3), 30, every=0, what="the copy to stand still")
        assert still_for(3)
    finally:
        cloud.cli("resume", "timeline")
