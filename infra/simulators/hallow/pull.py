"""Hallow's pull API (SPEC 4.2): users by offset, all content at once, flaky events.

Everything is a pure function of the seed and an index, so any page can be served again
identically. ``/api/events`` answers 503 to about 10% of calls and stalls about 5% of them
(settings); about 5% of the events in a page repeat one served on an earlier page.
"""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.hallow.push import MEDIA, PRAYERS, TYPE_WEIGHTS, TYPES
from simulators.settings import HallowSettings

MAX_LIMIT = 200
START_S = 1_790_812_800  # 2026-10-01T00:00:00Z
STATUS = ["free", "paid", "trial"]
COUNTRIES = ["US", "BR", "IT", "FR"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _bad(message: str) -> Response:
    return _json({"error": "bad_request", "message": message}, 400)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def user(n: int) -> dict[str, Any]:
    # Same age, status and country as the push side's user objects.
    return {"user_id": f"user_{n}", "age": 18 + n % 65, "status": STATUS[n % 3],
            "country": COUNTRIES[n % 4], "created_at": _iso(START_S - 86_400 * 400 + n * 3_000)}


def content(n: int) -> dict[str, Any]:
    rng = random.Random(n * 7919)
    return {"content_id": f"content_{n}", "media_type": rng.choice(MEDIA),
            "prayer_type": PRAYERS[n % len(PRAYERS)],
            "created_at": _iso(START_S - 86_400 * 200 + n * 11_000)}


class PullApi:
    def __init__(self, cfg: HallowSettings) -> None:
        self.cfg = cfg
        self.chaos = random.Random(cfg.seed * 31)
        self.calls = {"users": 0, "content": 0, "events": 0, "errors": 0, "stalls": 0}

    def event(self, i: int) -> dict[str, Any]:
        rng = random.Random(self.cfg.seed * 1_000_003 + i)
        kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        props: dict[str, Any] = {}
        if kind == "purchase":
            props = {"amount": round(rng.uniform(1, 200), 2),
                     "product_id": f"prod_{rng.randint(1, 50)}"}
        elif kind in ("view", "like", "share", "pray"):
            c = content(rng.randint(1, self.cfg.contents))
            props = {k: c[k] for k in ("content_id", "media_type", "prayer_type")}
        return {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "user_id": f"user_{rng.randint(1, self.cfg.users)}", "event_type": kind,
                "source": rng.choice(["web", "apple", "android"]),
                "timestamp": _iso(START_S + i * 37), "properties": props}

    async def users(self, request: Request) -> Response:
        self.calls["users"] += 1
        try:
            offset = int(request.query_params.get("offset", "0"))
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            return _bad("offset and limit must be integers")
        if offset < 0 or offset > self.cfg.users:
            return _bad(f"offset must be between 0 and {self.cfg.users}")
        if not 1 <= limit <= MAX_LIMIT:
            return _bad(f"limit must be between 1 and {MAX_LIMIT}")
        rows = [user(n) for n in range(offset + 1, min(offset + limit, self.cfg.users) + 1)]
        more = offset + len(rows) < self.cfg.users
        return _json({"users": rows, "count": len(rows), "total_users": self.cfg.users,
                      "offset": offset, "limit": limit, "has_more": more,
                      "next_offset": offset + len(rows) if more else -1})

    async def content(self, request: Request) -> Response:
        self.calls["content"] += 1
        rows = [content(n) for n in range(1, self.cfg.contents + 1)]
        return _json({"content": rows, "count": len(rows)})

    async def events(self, request: Request) -> Response:
        self.calls["events"] += 1
        roll = self.chaos.random()
        if roll < self.cfg.pull_error_rate:
            self.calls["errors"] += 1
            return _json({"error": "unavailable", "message": "try again"}, 503)
        if roll < self.cfg.pull_error_rate + self.cfg.pull_stall_rate:
            self.calls["stalls"] += 1
            await asyncio.sleep(self.cfg.pull_stall_s)
        try:
            count = int(request.query_params.get("count", "50"))
            start = int(base64.urlsafe_b64decode(request.query_params.get("cursor") or "MA=="))
        except ValueError:
            return _bad("count must be an integer and cursor one this API gave")
        if not 1 <= count <= MAX_LIMIT:
            return _bad(f"count must be between 1 and {MAX_LIMIT}")
        end = min(start + count, self.cfg.pull_events)
        rng = random.Random(start)
        rows = [self.event(i) for i in range(start, end)]
        if start > 0 and rows:  # events repeat: some of an earlier page comes again
            rows += [self.event(rng.randrange(max(0, start - count), start))
                     for _ in range(sum(rng.random() < 0.05 for _ in rows))]
        nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < self.cfg.pull_events \
            else None
        return _json({"events": rows, "count": len(rows), "total": self.cfg.pull_events,
                      "next_cursor": nxt})

    def routes(self) -> list[Route]:
        return [Route("/api/users", self.users), Route("/api/content", self.content),
                Route("/api/events", self.events)]
