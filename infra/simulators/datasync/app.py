"""DataSync's HTTP API (SPEC 4.1): cursor pages, bulk feed, rate limits, chaos.

Run: ``python -m simulators.datasync`` (settings from ``TRIBUTARY_DATASYNC_*``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.datasync.data import Dataset, index_of_id
from simulators.settings import DatasyncServerSettings
from tributary.gcpause import paused_gc


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> Response:
    return _json(status, {"code": code, "message": message}, headers)


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RateLimiter:
    """Fixed windows per (endpoint, key), as the real service counts them."""

    def __init__(self, window_s: float, limits: dict[str, int]) -> None:
        self.window_s = window_s
        self.limits = limits
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self.allowed = 0
        self.rejected = 0
        # Per endpoint: allowed, rejected, first and last request time (budget accounting).
        self.by_endpoint: dict[str, dict[str, float]] = {}

    def hit(self, endpoint: str, key: str) -> tuple[bool, dict[str, str]]:
        now = time.time()
        window = int(now // self.window_s)
        limit = self.limits[endpoint]
        with self._lock:
            used = self._counts.get((endpoint, key, window), 0) + 1
            self._counts[(endpoint, key, window)] = used
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[2] >= window}
        stats = self.by_endpoint.setdefault(endpoint, {"allowed": 0, "rejected": 0,
                                                        "first_at": now, "last_at": now})
        stats["last_at"] = now
        reset = (window + 1) * self.window_s - now
        headers = {"X-RateLimit-Limit": str(limit),
                   "X-RateLimit-Remaining": str(max(0, limit - used)),
                   "X-RateLimit-Reset": f"{reset:.3f}"}
        if used > limit:
            self.rejected += 1
            stats["rejected"] += 1
            headers["Retry-After"] = str(max(1, math.ceil(reset)))
            return False, headers
        self.allowed += 1
        stats["allowed"] += 1
        return True, headers

    def budget(self) -> dict[str, dict[str, float]]:
        """Per endpoint: requests allowed vs what the windows between first and last allowed."""
        out = {}
        for endpoint, s in self.by_endpoint.items():
            windows = int(s["last_at"] // self.window_s) - int(s["first_at"] // self.window_s) + 1
            budget = windows * self.limits[endpoint]
            out[endpoint] = {**s, "windows": windows, "budget": budget,
                             "budget_used": round(s["allowed"] / budget, 4)}
        return out


class Api:
    def __init__(self, cfg: DatasyncServerSettings) -> None:
        self.cfg = cfg
        self.data = Dataset(cfg)
        self.limiter = RateLimiter(cfg.rate_window_s, {
            "events": cfg.rate_events, "sessions": cfg.rate_sessions, "feed": cfg.rate_feed})
        self.tokens: dict[str, float] = {}
        self.chaos = random.Random(cfg.seed)
        self.requests = 0
        self.chaos_errors = 0
        self.chaos_stalls = 0
        self.cursors_expired = 0
        self.tokens_issued = 0

    # -- cursors: opaque base64 of what the next page needs, with the time of issue ----------
    def _cursor(self, kind: str, pos: int, **extra: int) -> str:
        raw = orjson.dumps({"k": kind, "p": pos, "t": time.time(), **extra})
        return base64.urlsafe_b64encode(raw).decode()

    def _read_cursor(self, kind: str, cursor: str) -> dict[str, Any]:
        try:
            state: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
            if state.get("k") != kind or not isinstance(state.get("p"), int):
                raise ValueError(kind)
        except (ValueError, TypeError) as exc:
            raise BadRequest("CURSOR_INVALID", "the cursor is malformed") from exc
        if time.time() - float(state["t"]) > self.cfg.cursor_ttl_s:
            self.cursors_expired += 1
            raise BadRequest("CURSOR_EXPIRED", "the cursor has expired; start again")
        return state

    def _limit(self, request: Request, kind: str) -> int:
        raw = request.query_params.get("limit", "100")
        try:
            limit = int(raw)
        except ValueError as exc:
            raise BadRequest("INVALID_LIMIT", f"limit must be an integer, got {raw!r}") from exc
        if limit < 1:
            raise BadRequest("INVALID_LIMIT", "limit must be at least 1")
        return min(limit, self.cfg.feed_page_cap if kind == "feed" else self.cfg.page_cap)

    def _page(self, kind: str, items: list[bytes], returned: int, limit: int,
              next_cursor: str | None, total: int, headers: dict[str, str]) -> Response:
        body = b"".join([
            b'{"data":[', b",".join(items), b'],"pagination":',
            orjson.dumps({"limit": limit, "hasMore": next_cursor is not None,
                          "nextCursor": next_cursor,
                          "cursorExpiresIn": int(self.cfg.cursor_ttl_s)}),
            b',"meta":', orjson.dumps({"total": total, "returned": returned,
                                       "requestId": str(uuid.uuid4())}), b"}"])
        return Response(body, 200, headers=headers, media_type="application/json")

    def _repeat(self, pos: int) -> bool:
        """Whether the page at ``pos`` repeats its last event on the next page (chaos)."""
        rate = self.cfg.chaos_duplicate_rate
        return rate > 0 and random.Random(self.cfg.seed * 1_000_003 + pos).random() < rate

    # -- endpoints ------------------------------------------------------------------------------
    async def events(self, request: Request, headers: dict[str, str]) -> Response:
        limit = self._limit(request, "events")
        cursor = request.query_params.get("cursor")
        top = self.data.n - 1
        pos = self._read_cursor("events", cursor)["p"] if cursor else top
        pos = min(pos, top)
        last = max(pos - limit + 1, 0)
        with paused_gc():
            items = self.data.events_json(range(pos, last - 1, -1))  # newest first
        nxt = last - 1 + (1 if self._repeat(pos) and last > 0 else 0)
        return self._page("events", items, len(items), limit,
                          self._cursor("events", nxt) if last > 0 else None, self.data.n, headers)

    async def event(self, request: Request, headers: dict[str, str]) -> Response:
        i = index_of_id(request.path_params["id"])
        if i is None or not 0 <= i < self.data.n or \
                orjson.loads(self.data.event_json(i)).get("id") != request.path_params["id"]:
            return _error(404, "NOT_FOUND", "no event with that id", headers)
        return Response(b'{"data":' + self.data.event_json(i) + b"}", 200, headers=headers,
                        media_type="application/json")

    async def sessions(self, request: Request, headers: dict[str, str]) -> Response:
        limit = self._limit(request, "sessions")
        cursor = request.query_params.get("cursor")
        count = self.cfg.sessions
        pos = self._read_cursor("sessions", cursor)["p"] if cursor else count - 1
        last = max(pos - limit + 1, 0)
        items = [orjson.dumps(self.data.session(j)) for j in range(pos, last - 1, -1)]
        return self._page("sessions", items, len(items), limit,
                          self._cursor("sessions", last - 1) if last > 0 else None, count,
                          headers)

    async def stream_access(self, request: Request, headers: dict[str, str]) -> Response:
        token = secrets.token_urlsafe(24)
        now = time.time()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        self.tokens[token] = now + self.cfg.token_ttl_s
        self.tokens_issued += 1
        return _json(200, {"token": token, "expiresIn": int(self.cfg.token_ttl_s)}, headers)

    async def feed(self, request: Request, headers: dict[str, str]) -> Response:
        token = request.headers.get("x-stream-token", "")
        if self.tokens.get(token, 0) <= time.time():
            return _error(403, "INVALID_STREAM_TOKEN",
                          "missing or expired stream token; POST /api/v1/stream-access", headers)
        limit = self._limit(request, "feed")
        q = request.query_params
        try:
            since = int(q.get("since", "0"))
            until = int(q.get("until", str(2**62)))
        except ValueError as exc:
            raise BadRequest("INVALID_RANGE", "since and until are epoch milliseconds") from exc
        if until < since:
            raise BadRequest("INVALID_RANGE", "until is before since")
        lo, hi = self.data.range_for(since, until)
        cursor = q.get("cursor")
        if cursor:
            state = self._read_cursor("feed", cursor)
            if state.get("s") != since or state.get("u") != until:
                raise BadRequest("CURSOR_INVALID", "the cursor belongs to another range")
            lo = state["p"]
        end = min(lo + limit, hi)
        with paused_gc():
            items = self.data.events_json(range(lo, end))
        nxt = end - (1 if self._repeat(lo) and end < hi else 0)
        next_cursor = self._cursor("feed", nxt, s=since, u=until) if end < hi else None
        return self._page("feed", items, end - lo, limit, next_cursor,
                          hi - lo if not cursor else hi, headers)

    # -- the common gate: auth, rate limit, chaos -------------------------------------------
    def route(self, endpoint: str | None,
              fn: Callable[[Request, dict[str, str]], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            self.requests += 1
            key = request.headers.get("x-api-key", "")
            if not secrets.compare_digest(key, self.cfg.api_key.get_secret_value()):
                return _error(401, "UNAUTHORIZED", "missing or invalid X-API-Key")
            headers: dict[str, str] = {}
            if endpoint:
                ok, headers = self.limiter.hit(endpoint, key)
                if not ok:
                    return _error(429, "RATE_LIMIT_EXCEEDED", "too many requests", headers)
            roll = self.chaos.random()
            if roll < self.cfg.chaos_error_rate:
                self.chaos_errors += 1
                status = self.chaos.choice([500, 503])
                return _error(status, "INTERNAL" if status == 500 else "UNAVAILABLE",
                              "chaos: the server failed", headers)
            if roll < self.cfg.chaos_error_rate + self.cfg.chaos_stall_rate:
                self.chaos_stalls += 1
                await asyncio.sleep(self.cfg.chaos_stall_s)
            try:
                return await fn(request, headers)
            except BadRequest as exc:
                return _error(400, exc.code, str(exc), headers)

        return handle

    async def no_feed(self, request: Request, headers: dict[str, str]) -> Response:
        return _error(404, "FEED_DISABLED", "the bulk feed is not enabled for this account")

    async def health(self, request: Request) -> Response:
        return _json(200, {"status": "ok", "events": self.data.n, "sessions": self.cfg.sessions,
                           "requests": self.requests, "allowed": self.limiter.allowed,
                           "rate_limited": self.limiter.rejected,
                           "by_endpoint": self.limiter.budget(),
                           "chaos_errors": self.chaos_errors, "chaos_stalls": self.chaos_stalls,
                           "cursors_expired": self.cursors_expired,
                           "tokens_issued": self.tokens_issued})

    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health),
            Route("/api/v1/events", self.route("events", self.events)),
            Route("/api/v1/sessions", self.route("sessions", self.sessions)),
            Route("/api/v1/stream-access", self.route(None, self.stream_access),
                  methods=["POST"]),
        ]
        # Registered even when off, so "feed" is never read as an event id (which would
        # charge the events budget for a request about the feed).
        routes.append(Route("/api/v1/events/feed", self.route("feed", self.feed)
                            if self.cfg.feed_enabled else self.route(None, self.no_feed)))
        routes.append(Route("/api/v1/events/{id}", self.route("events", self.event)))
        return Starlette(routes=routes)
