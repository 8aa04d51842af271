"""Change messages from upstream, and rows as the local copy keeps them.

The default message shape (SPEC 4.4): ``{"type": "insert"|"delete", <row>}`` and
``{"type": "mutate", "old": <row>, "new": <row>}``. A stream may declare another parser.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from tributary.sources.live import ChangeStream

Op = Literal["insert", "mutate", "delete"]


class BadMessage(ValueError):
    """A message that is not a change (logged and skipped; a repair restores the truth)."""


@dataclass(frozen=True, slots=True)
class Change:
    op: Op
    key: int | str
    time_s: int  # the row's time column, epoch seconds
    row: dict[str, Any]  # the row after an insert or mutate; the deleted row for a delete
    old: dict[str, Any] | None
    raw: str  # the message as received
    received_at: float  # epoch seconds


def _row(stream: ChangeStream, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadMessage(f"expected a row object, got {type(value).__name__}")
    for col in (stream.primary_key, stream.time_column):
        if col not in value:
            raise BadMessage(f"row without {col!r}")
    if isinstance(value[stream.time_column], bool) or not isinstance(
            value[stream.time_column], int | float):
        raise BadMessage(f"{stream.time_column}: expected epoch seconds, got "
                         f"{value[stream.time_column]!r}")
    return {c: value.get(c) for c in stream.columns}


def default_parser(stream: ChangeStream, doc: Any) -> tuple[Op, dict[str, Any],
                                                            dict[str, Any] | None]:
    if not isinstance(doc, dict):
        raise BadMessage("a message is a JSON object")
    kind = doc.get("type")
    if kind in ("insert", "delete"):
        return kind, _row(stream, doc), None
    if kind == "mutate":
        old, new = _row(stream, doc.get("old")), _row(stream, doc.get("new"))
        if old[stream.primary_key] != new[stream.primary_key]:
            raise BadMessage("a mutate changes the key")
        return "mutate", new, old
    raise BadMessage(f"unknown change type {kind!r}")


Parser = Callable[[ChangeStream, Any], tuple[Op, dict[str, Any], dict[str, Any] | None]]


def parser_for(stream: ChangeStream) -> Parser:
    if stream.message is None:
        return default_parser
    module, _, attr = stream.message.partition(":")
    found: Parser = getattr(importlib.import_module(module), attr)
    return found


def parse(stream: ChangeStream, text: str, received_at: float,
          parser: Parser = default_parser) -> Change:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    op, row, old = parser(stream, doc)
    return Change(op, row[stream.primary_key], int(row[stream.time_column]), row, old, text,
                  received_at)


def fingerprint(text: str) -> str:
    """Names a message across two holders' sockets (the same bytes arrive on both)."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
