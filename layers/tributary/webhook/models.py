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
    model_validator,
)

EventType = Literal["click", "view", "purchase", "signup", "pray", "share", "like"]


def _user_id(value: Any) -> Any:
    """``user_id`` sometimes arrives as the whole user object: keep its id."""
    if isinstance(value, dict):
        return value.get("user_id", value.get("id"))
    return value


_INT64 = 2**63


def _storable(value: Any, where: str = "") -> None:
    """What PostgreSQL (text, jsonb) and Parquet can keep: no NUL characters, no lone UTF-16
    surrogates, integers within 64 bits. Anything else is refused before anything is kept."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'value'}: NUL characters cannot be stored")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{where or 'value'}: not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{where or 'value'}: integer outside the 64-bit range")
    elif isinstance(value, dict):
        for k, v in value.items():
            _storable(k, f"{where}.{k!r} (key)" if where else "key")
            _storable(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _storable(v, f"{where}[{i}]")


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


def parse(body: bytes) -> Payload:
    try:
        return Payload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        if first["type"] == "json_invalid":
            raise BadPayload(f"body is not valid JSON: {first['msg']}") from exc
        if loc and loc[0] == "events" and len(loc) > 1 and isinstance(loc[1], int):
            field = ".".join(str(x) for x in loc[2:])
            where = f"events[{loc[1]}]" + (f".{field}" if field else "")
        else:
            where = ".".join(str(x) for x in loc) or "body"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise BadPayload(f"{where}: {first['msg']}{more}") from exc
