"""A source's pause switch is its EventBridge schedule, ``tributary-fetch-<source>``.

Disabling the rule (``tributary pause``, ``POST /sources/<s>/pause``, ``awslocal events
disable-rule``) stops the schedule firing and, through ``PauseSwitch``, stops a fetch or a
live holder already under way. The rule's state is kept with the emulator's (or AWS's), so a
paused source stays paused across restarts.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from tributary.clients import aws_client
from tributary.sources import loader


def schedule_rule(source: str) -> str:
    """The EventBridge rule that polls ``source``."""
    return f"tributary-fetch-{source}"


def is_paused(events: Any, source: str) -> bool:
    """Whether ``source``'s schedule is disabled; a source with no schedule deployed cannot
    be paused."""
    try:
        rule = events.describe_rule(Name=schedule_rule(source))
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return bool(rule.get("State") == "DISABLED")


def paused_sources(events: Any) -> set[str]:
    """Every declared source, pulled or live, whose schedule is disabled (one listing)."""
    rules = {r["Name"]: r["State"] for page in events.get_paginator("list_rules").paginate()
             for r in page["Rules"]}
    names = set(loader.sources()) | set(loader.live_sources())
    return {src for src in names if rules.get(schedule_rule(src)) == "DISABLED"}


class PauseSwitch:
    """``is_paused`` for work under way, asked at most every ``every_s`` per source, so a
    pass stops within a page (a live holder within a batch) of the pause."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._seen: dict[str, tuple[float, bool]] = {}

    def __call__(self, source: str) -> bool:
        at, state = self._seen.get(source, (0.0, False))
        return self.now(source) if time.monotonic() - at >= self.every_s else state

    def now(self, source: str) -> bool:
        """Asked now, whatever was seen lately (after a wait, the last answer may be stale)."""
        state = is_paused(aws_client("events"), source)
        self._seen[source] = (time.monotonic(), state)
        return state
