"""Pausing, resuming and starting sources: one set of rules for the CLI and the HTTP API.

A source's pause switch is its EventBridge schedule (see ``tributary.pause``).
"""

from __future__ import annotations

from typing import Any

import orjson

from tributary.pause import is_paused, schedule_rule
from tributary.sources import loader

FETCH_FUNCTION = "tributary-fetch"


class NotPulled(ValueError):
    """A live source runs continuously: it is resumed, not started."""


class Paused(ValueError):
    """A paused source is not fetched until it is resumed (its position is kept)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is paused: resume it first")
        self.name = name


def startable(events: Any, name: str) -> None:
    """Whether ``name`` can be fetched now: ``NotPulled`` for a live source, ``Paused`` for a
    paused one, ``DeclarationError`` for no source at all."""
    if check(name):
        raise NotPulled(f"{name} is a live source: it runs continuously; resume it instead")
    if is_paused(events, name):
        raise Paused(name)


def check(name: str) -> bool:
    """True for a live source; raises ``DeclarationError`` naming the declared ones if
    ``name`` is not a source at all."""
    if name in loader.live_sources():
        return True
    loader.source(name)
    return False


def set_polling(events: Any, name: str, enabled: bool) -> str:
    """Enable or disable ``name``'s schedule; returns the rule's state as EventBridge has it."""
    check(name)
    rule = schedule_rule(name)
    (events.enable_rule if enabled else events.disable_rule)(Name=rule)
    state: str = events.describe_rule(Name=rule)["State"]
    return state


def start_fetch(lambda_client: Any, name: str | None = None, force: bool = True) -> None:
    """Fetch ``name`` (every pulled source: None) now, as its schedule would; ``force``: its
    streams' passes too, due or not (and its failed partitions again)."""
    if name is not None and check(name):
        raise NotPulled(f"{name} is a live source: it runs continuously; resume it instead")
    payload = {"force": force} | ({"source": name} if name else {})
    lambda_client.invoke(FunctionName=FETCH_FUNCTION, InvocationType="Event",
                         Payload=orjson.dumps(payload))
