"""Schedules: ``rate(...)`` and ``cron(...)`` expressions fire their functions.

The rule's state is read from the emulator (EventBridge) at every tick, so
``awslocal events disable-rule`` pauses a schedule and ``enable-rule`` resumes it.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from croniter import croniter

from localcloud.cfn import ACCOUNT_ID
from localcloud.template import Function, Schedule
from tributary.log import get_logger

log = get_logger("runtime.schedule")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_AWS_DOW = {str(i): str(i - 1) for i in range(1, 8)}  # AWS 1=SUN..7=SAT; cron 0=SUN..6=SAT


class ScheduleError(ValueError):
    pass


def rate_seconds(expression: str) -> float | None:
    m = _RATE.match(expression.strip())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).rstrip("s")
    if n <= 0:
        raise ScheduleError(f"{expression}: the rate must be positive")
    return n * _UNIT_S[unit]


def _aws_dow(day: re.Match[str]) -> str:
    return _AWS_DOW[day.group(0)]


def cron_to_croniter(expression: str) -> str:
    """AWS ``cron(min hour dom month dow year)`` as a five-field croniter expression."""
    m = re.match(r"^cron\((.+)\)$", expression.strip())
    if not m:
        raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: AWS cron needs 6 fields, got {len(fields)}")
    minute, hour, dom, month, dow, _year = fields
    dow = "*" if dow == "?" else re.sub(r"\b[1-7]\b", _aws_dow, dow)
    dom = "*" if dom == "?" else dom
    expr = f"{minute} {hour} {dom} {month} {dow}"
    if not croniter.is_valid(expr):
        raise ScheduleError(f"{expression}: not a valid cron expression")
    return expr


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"], "detail": {},
    }


@dataclass
class _Entry:
    fn: Function
    schedule: Schedule
    next_at: float
    period_s: float | None
    cron: str | None
    fired: int = 0
    skipped_disabled: int = 0

    def advance(self, now: float, scale: float) -> None:
        if self.period_s is not None:
            while self.next_at <= now:
                self.next_at += self.period_s * scale
        else:
            assert self.cron is not None
            self.next_at = croniter(self.cron, datetime.fromtimestamp(now, UTC)).get_next(float)


class Scheduler:
    def __init__(self, functions: tuple[Function, ...], events: Any, region: str, scale: float,
                 fire: Callable[[Function, dict[str, Any], str | None], None],
                 stop: threading.Event) -> None:
        self.events = events
        self.region = region
        self.scale = scale
        self.fire = fire
        self.stop = stop
        now = time.time()
        self.entries: list[_Entry] = []
        for fn in functions:
            for s in fn.schedules:
                period = rate_seconds(s.expression)
                cron = None if period is not None else cron_to_croniter(s.expression)
                entry = _Entry(fn, s, now + (period or 0) * scale, period, cron)
                if cron:
                    entry.advance(now, scale)
                self.entries.append(entry)

    def start(self) -> None:
        if self.entries:
            threading.Thread(target=self._loop, daemon=True, name="scheduler").start()

    def enabled(self, rule_name: str) -> bool:
        try:
            state = self.events.describe_rule(Name=rule_name)["State"]
        except Exception as exc:  # noqa: BLE001 - a rule not deployed does not fire
            log.warning("rule not readable", extra={"rule": rule_name, "error": str(exc)})
            return False
        return bool(state == "ENABLED")

    def _loop(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            for e in self.entries:
                if e.next_at > now:
                    continue
                e.advance(now, self.scale)
                if self.enabled(e.schedule.rule_name):
                    e.fired += 1
                    payload = (scheduled_event(e.schedule.rule_name, self.region)
                               if e.schedule.input is None else orjson.loads(e.schedule.input))
                    self.fire(e.fn, payload, e.schedule.rule_name)
                else:
                    e.skipped_disabled += 1
            nearest = min(e.next_at for e in self.entries)
            self.stop.wait(max(0.05, min(1.0, nearest - time.time())))

    def stats(self) -> list[dict[str, Any]]:
        return [{"rule": e.schedule.rule_name, "function": e.fn.name,
                 "expression": e.schedule.expression, "fired": e.fired,
                 "skipped_disabled": e.skipped_disabled} for e in self.entries]
