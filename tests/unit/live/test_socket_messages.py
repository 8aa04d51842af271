"""What the live WebSocket API answers to a message that is not a subscription: an error on
the socket that says what was wrong, never a crash (the gateway would drop the answer)."""

from __future__ import annotations

import orjson
import pytest

from tributary.live.socket_api import handler


def _answer(route: str, body: str) -> tuple[int, str]:
    out = handler({"requestContext": {"routeKey": route, "connectionId": "c1"}, "body": body},
                  None)
    answer = orjson.loads(out["body"])
    assert answer["type"] == "error", answer
    return out["statusCode"], answer["message"]


@pytest.mark.parametrize(("route", "body", "said"), [
    ("$default", "not json", "the message is not JSON"),
    ("$default", '{"action": "subscribe\\u0000"}', "unknown action 'subscribe\\x00'"),
    ("$default", '{"stream": "\\ud800"}', "the message is not JSON"),
    ("$default", '{"start": 1}\x00', "the message is not JSON"),
    ("$default", "[1]", "no action"),
    ("subscribe", '{"action": "subscribe", "stream": "a\\u0000b", "start": 1, "stop": 2}',
     "stream: Value error, a NUL character (U+0000)"),
    ("subscribe", '{"action": "subscribe", "stream": "a\\u0001", "start": 1, "stop": 2}',
     "stream: Value error, a control character (U+0001)"),
    ("subscribe", '{"action": "subscribe", "stream": "\\ud800", "start": 1, "stop": 2}',
     "the message is not JSON (no low surrogate"),
    ("subscribe", '{"action": "subscribe", "start": "1\\u0000", "stop": 2}', "start:"),
    ("subscribe", '{"action": "subscribe", "start": 1, "stop": 2, "\\u0000": 1}',
     "Extra inputs are not permitted"),
])
def test_a_bad_message_is_answered_with_what_is_wrong(route: str, body: str, said: str) -> None:
    status, message = _answer(route, body)
    assert status == 400 and said in message, message
