"""The webhook on the embedded stack: bad input of every kind, exactly-once landing in
Hive partitions, and no acknowledged event lost across a runtime SIGKILL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from localcloud.ingest import lake
from simulators.hallow.push import Pusher
from simulators.settings import HallowSettings
from tests.conftest import ROOT, Cloud, sigkill_and_restart, start_cloud, wait_for
from tributary.webhook.signature import sign

pytestmark = pytest.mark.integration
SECRET = "test-signing-secret"
ENV = {"TRIBUTARY_HALLOW_PUSH": "false", "TRIBUTARY_WEBHOOK_FLUSH_AGE_S": "1",
       "TRIBUTARY_WEBHOOK_SIGNING_SECRET": SECRET, "TRIBUTARY_HALLOW_PORT": "4664",
       "TRIBUTARY_DATASYNC_EVENTS": "1000"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("webhook"), ROOT / "template.yaml", 4660, ENV)
    yield c
    c.stack.down()
    mp.undo()


def _url(cloud: Cloud) -> str:
    return f"{cloud.settings.runtime_url}/webhook/events"


def _post(cloud: Cloud, body: bytes, secret: str | None = SECRET,
          at: float | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if secret:
        headers["x-hallow-signature"] = sign(secret, body, at)
    return httpx.post(_url(cloud), content=body, headers=headers, timeout=10)


def _event(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"event_id": f"t-{uuid.uuid4()}", "user_id": "user_1",
                         "event_type": "view", "source": "web",
                         "timestamp": "2026-11-22T09:15:00.000Z",
                         "properties": {"content_id": "content_1"}}
    e.update(over)
    return e


def _kept(cloud: Cloud, ids: list[str]) -> int:
    with psycopg.connect(cloud.settings.pg_dsn.get_secret_value()) as conn:
        exists = conn.execute("SELECT to_regclass('webhook_inbox')").fetchone() != (None,)
        return conn.execute("SELECT count(*) FROM webhook_inbox WHERE event_id = ANY(%s)",
                            (ids,)).fetchone()[0] if exists else 0  # type: ignore[index]


def _delta(cloud: Cloud) -> Any:
    return lake(cloud.settings).open("webhook_events")


def _files(cloud: Cloud) -> list[tuple[str, pa.Table]]:
    """The webhook_events table's files as of its latest commit, with their paths."""
    return lake(cloud.settings).read("webhook_events") or []


def _rows(cloud: Cloud) -> pa.Table | None:
    files = _files(cloud)
    return pa.concat_tables([t for _, t in files]) if files else None


def _waiting(cloud: Cloud) -> int:
    with psycopg.connect(cloud.settings.pg_dsn.get_secret_value()) as conn:
        if conn.execute("SELECT to_regclass('webhook_batches')").fetchone() == (None,):
            return 0  # nothing was ever pushed
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT (SELECT count(*) FROM webhook_inbox WHERE batch_id IS NULL) + "
            "(SELECT count(*) FROM webhook_batches WHERE flushed_at IS NULL)").fetchone()[0]


BAD = [
    ("not JSON", b"{nope", 400, "body is not valid JSON"),
    ("wrong shape", b'{"items": []}', 400, "events: Field required"),
    ("empty list", b'{"events": []}', 400, "events: List should have at least 1 item"),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_bodies_are_refused(cloud: Cloud, name: str, body: bytes, status: int,
                                      message: str) -> None:
    resp = _post(cloud, body)
    assert resp.status_code == status
    assert resp.json()["message"].startswith(message), resp.json()


@pytest.mark.parametrize(("change", "message"), [
    ({"source": None}, "events[2].source: Input should be 'web', 'apple' or 'android'"),
    ({"drop": "timestamp"}, "events[2].timestamp: Field required"),
    ({"user_id": 123}, "events[2].user_id: Input should be a valid string"),
    ({"event_type": "teleport"}, "events[2].event_type: Input should be 'click', 'view'"),
    ({"timestamp": "2026-11-22T09:15:00"}, "events[2].timestamp: Input should have timezone"),
], ids=["wrong enum", "missing field", "wrong type", "unknown event type", "naive time"])
def test_one_bad_event_rejects_the_whole_request(cloud: Cloud, change: dict[str, Any],
                                                 message: str) -> None:
    events = [_event(), _event(), _event(), _event()]
    if "drop" in change:
        del events[2][change["drop"]]
    else:
        events[2].update(change)
    resp = _post(cloud, json.dumps({"events": events}).encode())
    assert resp.status_code == 400
    assert resp.json()["message"].startswith(message), resp.json()
    assert _kept(cloud, [e["event_id"] for e in events]) == 0  # nothing partial is kept


def test_oversized_and_badly_signed_requests_are_refused(cloud: Cloud) -> None:
    events = [_event(properties={"pad": "x" * 2000}) for _ in range(600)]
    big = json.dumps({"events": events}).encode()
    resp = _post(cloud, big)
    assert resp.status_code == 413 and resp.json()["message"].startswith("payload too large")
    good = json.dumps({"events": [_event()]}).encode()
    for secret, at, message in [(None, None, "missing X-Hallow-Signature header"),
                                ("wrong-secret", None, "signature does not match the body"),
                                (SECRET, time.time() - 3600, "stale signature")]:
        resp = _post(cloud, good, secret=secret, at=at)
        assert resp.status_code == 401 and resp.json()["message"].startswith(message)
    ids = [e["event_id"] for e in events] + [json.loads(good)["events"][0]["event_id"]]
    assert _kept(cloud, ids) == 0


def test_pushed_events_land_once_in_their_partitions(cloud: Cloud) -> None:
    cfg = HallowSettings(duplicate_rate=0.1, user_object_rate=0.3, seed=5)
    pusher = Pusher(cfg, _url(cloud), SECRET)
    counts = pusher.burst(1500, concurrency=6)
    assert counts.failed_requests == 0
    assert counts.accepted == counts.expected_rows  # sent - signups - duplicates
    assert counts.accepted + counts.duplicates + counts.dropped == counts.unique + counts.repeats
    # A whole batch delivered again is acknowledged, and kept once.
    again = pusher.batch(10)
    pusher.send(again)
    pusher.send(again)
    wait_for(lambda: _waiting(cloud) == 0, 30, what="the inbox to flush")
    data = _rows(cloud)
    assert data is not None
    ids = data["event_id"]
    assert pc.count_distinct(ids).as_py() == data.num_rows  # each event exactly once
    for path, part in _files(cloud):
        assert "event_type=signup" not in path
        stamps = part["occurred_at"]
        assert f"dt={pc.strftime(stamps, format='%Y-%m-%d')[0]}" in path
        assert f"hour={pc.strftime(stamps, format='%H')[0]}" in path
        assert len(set(pc.strftime(stamps, format="%Y-%m-%d %H").to_pylist())) == 1


def test_acknowledged_events_survive_a_runtime_sigkill_before_flush(cloud: Cloud) -> None:
    events = cloud.client("events")
    events.disable_rule(Name="tributary-webhook-flush")
    try:
        batch = [_event(event_id=f"kill-{uuid.uuid4()}") for _ in range(50)]
        resp = _post(cloud, json.dumps({"events": batch}).encode())
        assert resp.status_code == 200 and resp.json()["accepted"] == 50
        sigkill_and_restart(cloud)
    finally:
        events.enable_rule(Name="tributary-webhook-flush")
    wait_for(lambda: _waiting(cloud) == 0, 30, what="the inbox to flush after restart")
    data = _rows(cloud)
    assert data is not None
    ids = [i for i in data["event_id"].to_pylist() if i.startswith("kill-")]
    assert sorted(ids) == sorted(e["event_id"] for e in batch)


def test_a_flusher_dying_after_writing_appends_nothing_twice(cloud: Cloud) -> None:
    """Claimed and written but never marked flushed: the next flush finds the batch's Delta
    transaction already committed and appends nothing, so its events are in the lake once."""
    from tributary.webhook import flush, inbox

    cloud.client("events").disable_rule(Name="tributary-webhook-flush")
    try:
        wait_for(lambda: _waiting(cloud) == 0, 30, what="earlier events to flush")
        batch = [_event(event_id=f"crash-{uuid.uuid4()}") for _ in range(30)]
        assert _post(cloud, json.dumps({"events": batch}).encode()).status_code == 200
        with psycopg.connect(cloud.settings.pg_dsn.get_secret_value()) as conn:
            claimed = inbox.claim(conn, 1000, 1, 0)
            assert claimed is not None
            assert flush.write_batch(lake(cloud.settings), claimed,
                                     flush.batch_rows(conn, claimed)) == ["webhook_events"]
            # ...the flusher dies here, before marking the batch flushed.
            version = _delta(cloud).version()
            result = flush.flush(conn, lake(cloud.settings), max_rows=1000, min_rows=1,
                                 min_age_s=0)
        assert result["batches"] == 1 and result["events"] == 30
    finally:
        cloud.client("events").enable_rule(Name="tributary-webhook-flush")
    assert _delta(cloud).version() == version  # the repeat committed nothing
    data = _rows(cloud)
    assert data is not None
    ids = [i for i in data["event_id"].to_pylist() if i.startswith("crash-")]
    assert sorted(ids) == sorted(e["event_id"] for e in batch)
