"""The pushed payload: normalization and error messages that name the event and field."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tributary.webhook.models import BadPayload, parse


def _body(**over: object) -> bytes:
    event = {"event_id": "e1", "user_id": "user_1", "event_type": "purchase", "source": "apple",
             "timestamp": "2026-11-22T11:30:00.250+02:00",
             "properties": {"amount": 9.99, "product_id": "p1"}}
    event.update(over)
    return orjson.dumps({"events": [event]})


def test_user_object_is_normalized_to_its_id_and_time_to_utc() -> None:
    (event,) = parse(_body(user_id={"user_id": "user_7", "age": 40, "status": "paid"})).events
    assert event.user_id == "user_7"
    assert event.utc == datetime(2026, 11, 22, 9, 30, 0, 250_000, tzinfo=UTC)


def test_unknown_keys_are_ignored() -> None:
    (event,) = parse(_body(campaign="spring")).events
    assert event.event_id == "e1"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "body is not valid JSON"),
    (b"[1, 2]", "body: Input should be an object"),
    (_body(event_id=""), "events[0].event_id: String should have at least 1 character"),
    (_body(user_id={"name": "no id"}), "events[0].user_id: Input should be a valid string"),
])
def test_bad_payloads_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(BadPayload, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        parse(body)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"events": [{"event_id": "e1", "user_id": "u", "event_type": "view", "source": "web", '
     b'"timestamp": "2026-11-22T09:15:00Z", "properties": {"n": 123456789012345678901234}}]}',
     "events[0]: Value error, properties.n: integer outside the 64-bit range"),
    (_body(event_id="e\x001"), "events[0]: Value error, event_id: a NUL character (U+0000)"),
    (_body(properties={"tags": ["ok", "a\x00b"]}),
     "events[0]: Value error, properties.tags[1]: a NUL character (U+0000) at position 1"),
    (b'{"events": [{"event_id": "\\ud800", "user_id": "u", "event_type": "view", '
     b'"source": "web", "timestamp": "2026-11-22T09:15:00Z"}]}',
     "body.events[0].event_id: a lone UTF-16 surrogate (U+D800)"),
    (_body(timestamp="0001-01-01T00:00:00+01:00"),
     "events[0]: Value error, timestamp: outside the years 1 to 9999 in UTC"),
])
def test_what_postgres_cannot_store_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(BadPayload) as err:
        parse(body)
    assert str(err.value).startswith(message), str(err.value)


def test_control_characters_in_event_text_are_data() -> None:
    (event,) = parse(_body(properties={"note": "line 1\nline 2\tend\x01"})).events
    assert event.properties["note"] == "line 1\nline 2\tend\x01"
