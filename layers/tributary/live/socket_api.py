"""The WebSocket API subscribers talk to (``$connect``, ``$disconnect``, ``subscribe``).

A subscriber sends ``{"action": "subscribe", "start": s, "stop": e, "after": n}`` (epoch
seconds; ``after``: the last change number it has, or null when it has just read its rows
as of ``seq``). It is answered ``{"type": "subscribed", "seq": N, "changes": [...]}`` with
every change after ``after`` in its range, or ``{"type": "reload", "seq": N}`` when it is too
far behind. From then on, changes in its range are pushed as ``{"type": "changes", ...}``.
A client keeps the highest ``seq`` it applied and skips any change at or below it.

A message that is not a subscription (not JSON, an unknown action, a stream name with a NUL,
a lone surrogate or a control character: ``tributary.api.text``) is answered
``{"type": "error", "message": ...}`` on the socket, which stays open.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from tributary.api.text import parameter_problem
from tributary.clients import aws_resource, pg_shared
from tributary.live.copy import LocalCopy
from tributary.settings import get_settings
from tributary.sources import loader


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    stream: str | None = None  # "<source>/<stream>"; default: the only live stream
    start: int
    stop: int
    after: int | None = None

    @field_validator("stream")
    @classmethod
    def _one_line(cls, stream: str | None) -> str | None:
        problem = parameter_problem(stream or "")
        if problem:
            raise ValueError(problem)
        return stream

    @model_validator(mode="after")
    def _range(self) -> Subscribe:
        if self.start >= self.stop:
            raise ValueError("start must be below stop")
        return self


def _answer(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": orjson.dumps(body).decode()}


def _copy(name: str | None) -> tuple[str, LocalCopy]:
    live = loader.live_sources()
    if name is None and len(live) == 1:
        name = f"{next(iter(live))}/{next(iter(live.values())).stream.name}"
    source, _, stream = (name or "").partition("/")
    if source not in live or live[source].stream.name != stream:
        raise ValueError(f"unknown stream {name!r}; live streams: "
                         f"{[f'{k}/{v.stream.name}' for k, v in live.items()]}")
    return name or "", LocalCopy(live[source].stream, f"{source}/{stream}")


_HOW = ('send {"action": "subscribe", "start": <epoch s>, "stop": <epoch s>, '
        '"after": <seq or null>}')


def _refused(message: str) -> dict[str, Any]:
    return _answer({"type": "error", "message": message}, 400)


class _NotJson(ValueError):
    """A message that does not parse; the text says how and what to send."""


def _json(body: str) -> Any:
    # orjson, not pydantic's parser: it names a lone surrogate as such.
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _NotJson(f"the message is not JSON ({exc}); {_HOW}") from None


def unrouted(body: str) -> dict[str, Any]:
    """The answer to a message no route takes: what is wrong with it, and what to send."""
    try:
        message = _json(body)
    except _NotJson as exc:
        return _refused(str(exc))
    action = message.get("action") if isinstance(message, dict) else None
    return _refused(f"unknown action {action!r}; {_HOW}" if action is not None
                    else f"no action; {_HOW}")


def subscribe(connection_id: str, body: str) -> dict[str, Any]:
    try:
        req = Subscribe.model_validate(_json(body))
        name, copy = _copy(req.stream)
    except (ValidationError, ValueError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else None
        why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                        for e in errors) if errors else str(exc)
        return _refused(why)
    conn = pg_shared()
    with conn.transaction():
        seq = copy.last_seq(conn)
        changes = [] if req.after is None else copy.changes_after(
            conn, req.after, req.start, req.stop, get_settings().live_catchup_max, upto=seq)
    if changes is None:
        return _answer({"type": "reload", "seq": seq})
    # Stored after the catch-up was read: the publisher sends what came after ``seq``.
    aws_resource("dynamodb").Table(get_settings().live_connections_table).put_item(Item={
        "connection_id": connection_id, "stream": name, "start": req.start, "stop": req.stop,
        "seq": seq, "at": int(time.time())})
    answer = _answer({"type": "subscribed", "seq": seq,
                      "changes": [c.as_dict() for c in changes]})
    if len(answer["body"]) > 120_000:
        return _answer({"type": "reload", "seq": seq})
    return answer


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event.get("requestContext") or {}
    route, cid = ctx.get("routeKey"), str(ctx.get("connectionId"))
    if route == "$connect":
        return {"statusCode": 200}
    if route == "$disconnect":
        aws_resource("dynamodb").Table(get_settings().live_connections_table).delete_item(
            Key={"connection_id": cid})
        return {"statusCode": 200}
    if route == "subscribe":
        return subscribe(cid, str(event.get("body") or ""))
    return unrouted(str(event.get("body") or ""))
