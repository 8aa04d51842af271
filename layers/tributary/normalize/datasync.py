"""DataSync records: validated with pydantic, then flattened to typed columns.

Validation runs over the whole page at once (pydantic-core); a record that fails becomes a
reject with the reason and never stops the page. Timestamps are normalized in bulk.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

import numpy as np
import orjson
from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict

from tributary.normalize.base import Normalized, stamps, validate

EventType = Literal["page_view", "click", "api_call", "form_submit", "scroll", "purchase",
                    "error", "video_play"]
Stamp = int | float | str


# TypedDicts, not models: pydantic validates them as thoroughly and returns plain dicts,
# which is 2.5x faster for a page of 10,000 records (no model instances to build).
NonEmpty = Annotated[str, Field(min_length=1)]


class SessionRef(TypedDict):
    id: str
    deviceType: NotRequired[str | None]
    browser: NotRequired[str | None]


class Event(TypedDict):
    id: NonEmpty
    sessionId: str
    userId: str
    type: EventType
    name: str
    properties: NotRequired[dict[str, Any]]
    timestamp: Stamp
    session: NotRequired[SessionRef | None]


class Session(TypedDict):
    id: NonEmpty
    userId: str
    deviceType: NotRequired[str | None]
    browser: NotRequired[str | None]
    os: NotRequired[str | None]
    country: NotRequired[str | None]
    city: NotRequired[str | None]
    startedAt: Stamp
    endedAt: NotRequired[Stamp | None]
    duration: NotRequired[int | None]
    eventCount: NotRequired[int | None]


def events(records: list[Any]) -> Normalized:
    rows, keep, rejects = validate(_EVENTS, records)
    ms, ok = stamps([r["timestamp"] for r in rows], "timestamp", keep, records, rejects)
    good = [r for r, g in zip(rows, ok.tolist(), strict=True) if g]
    sessions_ = [r.get("session") or {} for r in good]
    return Normalized({
        "id": [r["id"] for r in good],
        "session_id": [r["sessionId"] for r in good],
        "user_id": [r["userId"] for r in good],
        "type": [r["type"] for r in good],
        "name": [r["name"] for r in good],
        "properties": [orjson.dumps(r.get("properties") or {}, option=orjson.OPT_SORT_KEYS)
                       .decode() for r in good],
        "occurred_at": ms[ok],
        "device_type": [s.get("deviceType") for s in sessions_],
        "browser": [s.get("browser") for s in sessions_],
    }, rejects)


def sessions(records: list[Any]) -> Normalized:
    rows, keep, rejects = validate(_SESSIONS, records)
    started, ok1 = stamps([r["startedAt"] for r in rows], "startedAt", keep, records, rejects)
    ended_raw = [r.get("endedAt") for r in rows]
    ended, ok2 = stamps(ended_raw, "endedAt", keep, records, rejects, nullable=True)
    open_ = np.fromiter((v is None for v in ended_raw), dtype=bool, count=len(rows))
    ended = np.where(open_, started, ended)  # not ended yet: as long as it started
    ok = ok1 & ok2
    good = [r for r, g in zip(rows, ok.tolist(), strict=True) if g]
    return Normalized({
        "id": [r["id"] for r in good],
        "user_id": [r["userId"] for r in good],
        "device_type": [r.get("deviceType") for r in good],
        "browser": [r.get("browser") for r in good],
        "os": [r.get("os") for r in good],
        "country": [r.get("country") for r in good],
        "city": [r.get("city") for r in good],
        "started_at": started[ok],
        "ended_at": ended[ok],
        "duration_s": [r.get("duration") for r in good],
        "event_count": [r.get("eventCount") for r in good],
    }, rejects)


_EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
_SESSIONS: TypeAdapter[list[Session]] = TypeAdapter(list[Session])
