"""DataSync records: validated with pydantic, then flattened to typed columns.

Validation runs over the whole page at once (pydantic-core); a record that fails becomes a
reject with the reason and never stops the page. Timestamps are normalized in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tributary.normalize.timestamps import to_epoch_ms

EventType = Literal["page_view", "click", "api_call", "form_submit", "scroll", "purchase",
                    "error", "video_play"]
Stamp = int | float | str


class SessionRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    deviceType: str | None = None
    browser: str | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    sessionId: str
    userId: str
    type: EventType
    name: str
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: Stamp
    session: SessionRef | None = None


class Session(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    userId: str
    deviceType: str | None = None
    browser: str | None = None
    os: str | None = None
    country: str | None = None
    city: str | None = None
    startedAt: Stamp
    endedAt: Stamp | None = None
    duration: int | None = None
    eventCount: int | None = None


@dataclass
class Reject:
    index: int
    record_id: str | None
    reason: str
    record: Any


@dataclass
class Normalized:
    columns: dict[str, list[Any] | np.ndarray]
    rejects: list[Reject]


def _validate(adapter: TypeAdapter[list[Any]], records: list[Any]
              ) -> tuple[list[Any], list[int], list[Reject]]:
    """Valid models (with their page index) and rejects naming the field and the problem."""
    try:
        return adapter.validate_python(records), list(range(len(records))), []
    except ValidationError as exc:
        reasons: dict[int, list[str]] = {}
        for err in exc.errors():
            loc = err["loc"]
            if loc and isinstance(loc[0], int):
                field = ".".join(str(x) for x in loc[1:]) or "record"
                reasons.setdefault(loc[0], []).append(f"{field}: {err['msg']}")
    rejects = [Reject(i, _id(records[i]), "; ".join(r), records[i]) for i, r in reasons.items()]
    keep = [i for i in range(len(records)) if i not in reasons]
    return adapter.validate_python([records[i] for i in keep]), keep, rejects


def _id(record: Any) -> str | None:
    return str(record.get("id")) if isinstance(record, dict) and "id" in record else None


def _stamps(values: list[Any], label: str, keep: list[int], records: list[Any],
            rejects: list[Reject]) -> tuple[np.ndarray, np.ndarray]:
    ms, ok = to_epoch_ms(values)
    for j in np.flatnonzero(~ok).tolist():
        i = keep[j]
        rejects.append(Reject(i, _id(records[i]), f"{label}: unreadable timestamp "
                              f"{values[j]!r}", records[i]))
    return ms, ok


def events(records: list[Any]) -> Normalized:
    models, keep, rejects = _validate(_EVENTS, records)
    ms, ok = _stamps([m.timestamp for m in models], "timestamp", keep, records, rejects)
    good = [m for m, g in zip(models, ok.tolist(), strict=True) if g]
    return Normalized({
        "id": [m.id for m in good],
        "session_id": [m.sessionId for m in good],
        "user_id": [m.userId for m in good],
        "type": [m.type for m in good],
        "name": [m.name for m in good],
        "properties": [orjson.dumps(m.properties, option=orjson.OPT_SORT_KEYS).decode()
                       for m in good],
        "occurred_at": ms[ok],
        "device_type": [m.session.deviceType if m.session else None for m in good],
        "browser": [m.session.browser if m.session else None for m in good],
    }, rejects)


def sessions(records: list[Any]) -> Normalized:
    models, keep, rejects = _validate(_SESSIONS, records)
    started, ok1 = _stamps([m.startedAt for m in models], "startedAt", keep, records, rejects)
    ended_raw = [m.endedAt if m.endedAt is not None else m.startedAt for m in models]
    ended, ok2 = _stamps(ended_raw, "endedAt", keep, records, rejects)
    ok = ok1 & ok2
    good = [m for m, g in zip(models, ok.tolist(), strict=True) if g]
    return Normalized({
        "id": [m.id for m in good],
        "user_id": [m.userId for m in good],
        "device_type": [m.deviceType for m in good],
        "browser": [m.browser for m in good],
        "os": [m.os for m in good],
        "country": [m.country for m in good],
        "city": [m.city for m in good],
        "started_at": started[ok],
        "ended_at": ended[ok],
        "duration_s": [m.duration for m in good],
        "event_count": [m.eventCount for m in good],
    }, rejects)


_EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
_SESSIONS: TypeAdapter[list[Session]] = TypeAdapter(list[Session])
