"""Text no API can take (NUL characters, lone UTF-16 surrogates, control characters) is
refused with a 4xx that names where it was, on every HTTP API and on the live WebSocket
API's subscribe message; text that is data (a tab in a webhook property) is kept as sent."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from localcloud.credentials import api_token
from tests.conftest import LIVE_BASE, Cloud

pytestmark = pytest.mark.integration


def _refused(resp: httpx.Response, where: str) -> str:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    message: str = resp.json()["message"]
    assert where in message, message
    return message


def test_a_nul_byte_in_the_histogram_filter_is_a_400(live_cloud: Cloud) -> None:
    """Schemathesis's find (issue 33): psycopg cannot send a NUL to PostgreSQL, and the
    DataError it raised answered 500."""
    resp = httpx.get(f"{live_cloud.settings.runtime_url}/live/histogram",
                     params={"buckets": 420, "q": "\x00"}, headers=live_cloud.auth)
    assert "NUL" in _refused(resp, "q")


@pytest.mark.parametrize(("method", "path", "params", "body", "where"), [
    ("GET", "/live/rows", {"t": "1\x00"}, None, "query parameter t"),
    ("GET", "/live/rows", {"t": 1, "q": "a\x01"}, None, "query parameter q"),
    ("GET", "/live/histogram", {"stream": "timeline/\x7f"}, None, "query parameter stream"),
    ("POST", "/sources/a%00b/pause", None, None, "path parameter name"),
    ("POST", "/sources/a%1Bb/ingest", None, None, "path parameter name"),
    ("POST", "/query", None, '{"sql": "select \'\\u0000\'"}', "body.sql"),
    ("POST", "/query", None, '{"sql": "select ?", "params": ["\\ud800"]}', "body.params[0]"),
])
def test_every_api_names_bad_text(live_cloud: Cloud, method: str, path: str,
                                  params: dict[str, Any] | None, body: str | None,
                                  where: str) -> None:
    resp = httpx.request(method, f"{live_cloud.settings.runtime_url}{path}", params=params,
                         content=body, headers=live_cloud.auth | {
                             "content-type": "application/json"})
    _refused(resp, where)


def test_control_characters_in_a_query_or_an_event_are_data(live_cloud: Cloud) -> None:
    url = live_cloud.settings.runtime_url
    rows = httpx.post(f"{url}/query", json={"sql": "select ? as x", "params": ["a\tb\x01"]},
                      headers=live_cloud.auth).json()["rows"]
    assert rows == [["a\tb\x01"]]
    event = {"event_id": "bad-text-1", "user_id": "u1", "event_type": "view", "source": "web",
             "timestamp": "2026-01-01T00:00:00Z", "properties": {"note": "a\tb\nc"}}
    assert httpx.post(f"{url}/webhook/events", json={"events": [event]}).status_code == 200
    kept = live_cloud.sql("SELECT properties->>'note' FROM webhook_inbox "
                          "WHERE event_id = 'bad-text-1'")
    assert kept == [("a\tb\nc",)]
    nul = httpx.post(f"{url}/webhook/events", json={"events": [
        event | {"event_id": "bad-text-2", "properties": {"note": "a\x00"}}]})
    _refused(nul, "events[0]")


def test_a_bad_subscribe_message_is_answered_and_the_socket_stays(live_cloud: Cloud) -> None:
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{LIVE_BASE + 1}/ws/tributary-live?token={api_token(live_cloud.settings)}"
    sent = {
        '{"action": "subscribe", "stream": "timeline/\\u0000", "start": 1, "stop": 2}':
            "a NUL character",
        '{"action": "subscribe", "stream": "\\u0007", "start": 1, "stop": 2}':
            "a control character (U+0007)",
        '{"action": "subscribe", "stream": "\\ud800", "start": 1, "stop": 2}':
            "no low surrogate",
        '{"action": "subscribe", "start": 1, "stop": 2}\x00': "not JSON",
        '{"action": "subscribe", "start": "\x01", "stop": 2}': "not JSON",
        '{"action": "sub\\u0000scribe"}': "unknown action",
        "\x00": "not JSON",
    }
    with connect(url) as ws:
        for message, said in sent.items():
            ws.send(message)
            answer = orjson.loads(ws.recv(timeout=10))
            assert answer["type"] == "error" and said in answer["message"], (message, answer)
        ws.send(orjson.dumps({"action": "subscribe", "start": 1, "stop": 2}).decode())
        assert orjson.loads(ws.recv(timeout=10))["type"] == "subscribed"
