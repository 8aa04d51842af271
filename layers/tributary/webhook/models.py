"""The pushed payload, validated all or nothing, with errors that name the event and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from tributary.api.text import data_problem, first_problem

EventType = Literal["click", "view", "purchase", "signup", "pray", "share", "like"]


def _user_id(value: Any) -> Any:
    """``user_id`` sometimes arrives as the whole user object: keep its id."""
    if isinstance(value, dict):
        return value.get("user_id", value.get("id"))
    return value


_INT64 = 2**63


def _unstorable(value: Any) -> str | None:
    """What PostgreSQL (text, jsonb) and Parquet cannot keep: text with NUL characters or lone
    UTF-16 surrogates (``tributary.api.text``), integers beyond 64 bits. A tab or a newline
    is data, kept as sent."""
    if isinstance(value, str):
        return data_problem(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return "integer outside the 64-bit range"
    return None


def _storable(value: Any, where: str) -> None:
    """Anything that cannot be kept is refused before anything is kept."""
    problem = first_problem(value, where, _unstorable)
    if problem:
        raise ValueError(problem)


class PushedEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")  # partners add fields; only ours must be right
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    user_id: Annotated[str, BeforeValidator(_user_id), Field(min_length=1)]
    event_type: EventType
    source: Literal["web", "apple", "android"]
    # RFC 3339 with its offset, as the contract says; strict, so a number is not taken for
    # epoch seconds (or milliseconds, pydantic's guess) where the document says text.
    timestamp: AwareDatetime = Field(strict=True)
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keepable(self) -> PushedEvent:
        _storable(self.event_id, "event_id")
        _storable(self.user_id, "user_id")
        _storable(self.properties, "properties")
        try:
            self.utc  # noqa: B018 - a time near year 1 or 9999 has no UTC form (was a 500)
        except OverflowError:
            raise ValueError("timestamp: outside the years 1 to 9999 in UTC") from None
        return self

    @property
    def utc(self) -> datetime:
        return self.timestamp.astimezone(UTC)


class Payload(BaseModel):
    """Pushed events, kept all or none. Refused with 400 although JSON Schema cannot say so:
    NUL characters and lone UTF-16 surrogates in text, integers beyond 64 bits."""

    model_config = ConfigDict(extra="ignore")  # partners add fields; only ours must be right
    events: Annotated[list[PushedEvent], Field(min_length=1, max_length=1000)]


class BadPayload(ValueError):
    """400: the message names the event index and the field."""


def _unparsable(body: bytes) -> str | None:
    """Where a lone surrogate is, when that is why pydantic's parser refused the body (the
    standard library's parser takes one, so the field can be named)."""
    try:
        return first_problem(json.loads(body), "body")
    except ValueError:
        return None


def parse(body: bytes) -> Payload:
    try:
        return Payload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if first["type"] == "json_invalid":
            raise BadPayload(_unparsable(body) or f"body is not valid JSON: {first['msg']}"
                             ) from exc
        if loc and loc[0] == "events" and len(loc) > 1 and isinstance(loc[1], int):
            field = ".".join(str(x) for x in loc[2:])
            where = f"events[{loc[1]}]" + (f".{field}" if field else "")
        else:
            where = ".".join(str(x) for x in loc) or "body"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise BadPayload(f"{where}: {first['msg']}{more}") from exc
