"""Validation: good records become typed columns; bad ones become rejects naming the field."""

from __future__ import annotations

from typing import Any

from tributary.normalize.datasync import events, sessions


def _event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1", "sessionId": "s1", "userId": "u1", "type": "click", "name": "cta",
        "properties": {"b": 1, "a": 2}, "timestamp": "2026-10-01T00:00:00.123Z",
        "session": {"id": "s1", "deviceType": "mobile", "browser": "safari"}}
    base.update(over)
    return base


def test_good_events_become_columns() -> None:
    out = events([_event(), _event(id="e2", timestamp=1790812800123)])
    assert out.rejects == []
    assert out.columns["id"] == ["e1", "e2"]
    assert out.columns["occurred_at"].tolist() == [1790812800123, 1790812800123]
    assert out.columns["properties"][0] == '{"a":2,"b":1}'  # canonical: keys sorted
    assert out.columns["device_type"] == ["mobile", "mobile"]


def test_bad_records_are_rejected_with_reasons_and_the_rest_kept() -> None:
    missing = _event(id="e2")
    del missing["type"]
    records = [_event(), missing, _event(id="e3", type="teleport"),
               _event(id="e4", timestamp="whenever"), "not an object", _event(id="e6")]
    out = events(records)
    assert out.columns["id"] == ["e1", "e6"]
    reasons = {r.index: r.reason for r in out.rejects}
    assert set(reasons) == {1, 2, 3, 4}
    assert reasons[1].startswith("type: Field required")
    assert reasons[2].startswith("type: Input should be")
    assert reasons[3] == "timestamp: unreadable timestamp (got 'whenever')"
    assert {r.record_id for r in out.rejects} == {"e2", "e3", "e4", None}


def test_sessions() -> None:
    out = sessions([{"id": "s1", "userId": "u1", "startedAt": "2026-10-01T00:00:00.000Z",
                     "endedAt": 1790812860000, "duration": 60, "eventCount": 3}])
    assert out.columns["started_at"].tolist() == [1790812800000]
    assert out.columns["ended_at"].tolist() == [1790812860000]
