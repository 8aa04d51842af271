"""The pushed payload, validated all or nothing, with errors that name the event and field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

EventType = Literal["click", "view", "purchase", "signup", "pray", "share", "like"]


def _user_id(value: Any) -> Any:
    """``user_id`` sometimes arrives as the whole user object: keep its id."""
    if isinstance(value, dict):
        return value.get("user_id", value.get("id"))
    return value


class PushedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")  # partners add fields; only ours must be right
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    user_id: Annotated[str, BeforeValidator(_user_id), Field(min_length=1)]
    event_type: EventType
    source: Literal["web", "apple", "android"]
    timestamp: AwareDatetime
    properties: dict[str, Any] = Field(default_factory=dict)

    @property
    def utc(self) -> datetime:
        return self.timestamp.astimezone(UTC)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")  # partners add fields; only ours must be right
    events: Annotated[list[PushedEvent], Field(min_length=1, max_length=1000)]


class BadPayload(ValueError):
    """400: the message names the event index and the field."""


def parse(body: bytes) -> Payload:
    try:
        return Payload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if first["type"] == "json_invalid":
            raise BadPayload(f"body is not valid JSON: {first['msg']}") from exc
        if loc and loc[0] == "events" and len(loc) > 1 and isinstance(loc[1], int):
            field = ".".join(str(x) for x in loc[2:]) or "event"
            where = f"events[{loc[1]}].{field}"
        else:
            where = ".".join(str(x) for x in loc) or "body"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise BadPayload(f"{where}: {first['msg']}{more}") from exc
