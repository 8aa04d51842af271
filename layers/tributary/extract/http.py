"""An HTTP client for rate-limited APIs: paced from the server's rate-limit headers (any of
the families ``ratelimit_headers`` reads), waiting as long as a 429 or 5xx's ``Retry-After``
asks, and retrying 5xx and stalls without one with exponential backoff and full jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tributary.extract.ratelimit_headers import read_limits, seconds_until
from tributary.log import get_logger

log = get_logger("extract.http")

MAX_RETRY_AFTER_S = 120.0  # a longer wait is an error the stream records, not a sleep
INF = float("inf")


class ApiError(RuntimeError):
    """The API refused the request for good; the message carries its code and text."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


class CursorExpired(ApiError):
    pass


def permanent(exc: BaseException) -> bool:
    """Whether trying again cannot help: the API refused the request itself (a 4xx other
    than 408 and 429, an auth refusal after renewal included), its answer does not fit the
    declaration (a 200 without the records where they should be), or a link leads elsewhere.
    Anything else (the client's own retries of 5xx and stalls spent, an emulator call
    failing) may pass."""
    if not isinstance(exc, ApiError):
        return False
    return exc.status == 200 or exc.code == "FOREIGN_LINK" or (
        400 <= exc.status < 500 and exc.status not in (408, 429))


def retry_after_s(value: str | None, default: float = 1.0) -> float:
    """``Retry-After`` in seconds, given as seconds or as an HTTP-date (RFC 9110 10.2.3)."""
    seconds = seconds_until(value)
    return default if seconds is None else seconds


class TokenExpired(ApiError):
    pass


@dataclass
class CallStats:
    requests: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    waited_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "rate_limited": self.rate_limited,
                "server_errors": self.server_errors, "timeouts": self.timeouts,
                "waited_s": round(self.waited_s, 2)}


class Pacer:
    """Spends one endpoint's request budget without crossing it.

    Each response says how many requests are left in the window and when it resets; requests
    reserve a slot before they go out, so parallel callers never overshoot, and when none is
    left they sleep until the window turns. A response that says what remains but not when
    the window turns gets a short pause (``pause_s``) at 0, then one request asks again; so
    does a budget spent with nothing in flight to say more.
    """

    def __init__(self, margin_s: float = 0.02, pause_s: float = 1.0) -> None:
        self.margin_s = margin_s
        self.pause_s = pause_s
        self._lock = threading.Lock()
        self.limit: int | None = None  # what a new window holds
        self.remaining: int | None = None  # unknown: a single request learns it
        self.reset_at = 0.0  # when ``remaining`` stops holding; inf: when a response says
        self.in_flight = 0
        self.window_s: float | None = None  # declared up front; headers still take over
        self.held_until = 0.0  # a Retry-After: no request before it

    def declare(self, requests: int, per_s: float) -> None:
        """A limit known from the API's documentation, for APIs that send no headers."""
        with self._lock:
            self.limit, self.window_s = requests, per_s
            self.remaining, self.reset_at = requests, 0.0

    def acquire(self, max_wait_s: float = INF) -> float:
        """Block until a request may go; returns the seconds waited. A budget spent until
        further off than ``max_wait_s`` is an ApiError instead."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                if now >= self.reset_at:
                    self.remaining = self.limit  # a new window (None: ask what it holds)
                    # Its end is unknown until a response in it says, unless declared.
                    self.reset_at = now + self.window_s if self.window_s else INF
                if now < self.held_until:
                    pause = self.held_until - now
                elif self.remaining is None:
                    if self.in_flight == 0:  # learn the budget with a single request
                        self.in_flight += 1
                        return waited
                    pause = 0.01
                elif self.remaining > 0:
                    self.remaining -= 1
                    self.in_flight += 1
                    return waited
                elif self.reset_at != INF:
                    pause = self.reset_at - now + self.margin_s
                    if pause > max_wait_s:
                        raise ApiError(429, "BUDGET_SPENT", "the API's request budget is spent "
                                       f"until it resets in {pause:.0f} s, more than the "
                                       f"{max_wait_s:.0f} s a request waits; the stream tries "
                                       "again later")
                elif self.in_flight:
                    pause = 0.01  # a response in flight will say when the window turns
                else:  # none will: a short pause, then ask again
                    self.reset_at = now + self.pause_s
                    pause = self.pause_s + self.margin_s
            time.sleep(pause)
            waited += pause

    def update(self, headers: httpx.Headers) -> None:
        limit, remaining, reset_in_s = read_limits(headers)
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            if remaining is None:
                return
            now = time.monotonic()
            if reset_in_s is None:  # what remains, but not for how long
                self.remaining = max(0, remaining - self.in_flight)
                if self.remaining == 0 and not now < self.reset_at < INF:
                    self.reset_at = now + self.pause_s
                return
            reset_at = now + reset_in_s
            # The server's window turned before this pacer's: its reset moved on by more than
            # was left of the old one (answers' own delays move it by milliseconds).
            turned = reset_at > self.reset_at + max(0.05, self.reset_at - now)
            if self.remaining is None or turned:
                self.remaining = max(0, remaining - self.in_flight)
            else:  # answers arrive out of order: the lowest count holds until the window turns
                self.remaining = min(self.remaining, remaining)
            self.limit = limit if limit is not None else self.limit
            self.reset_at = reset_at

    def hold(self, wait_s: float) -> None:
        """The API asked for a pause (``Retry-After``): no caller of this budget sends a
        request before it ends."""
        with self._lock:
            self.held_until = max(self.held_until, time.monotonic() + wait_s)


class RateLimitedClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float,
                 max_attempts: int = 8, auth: httpx.Auth | None = None,
                 transport: httpx.BaseTransport | None = None,
                 max_retry_after_s: float = MAX_RETRY_AFTER_S) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, auth=auth,
                                 transport=transport,
                                 timeout=httpx.Timeout(timeout_s, connect=5.0),
                                 limits=httpx.Limits(max_connections=32))
        self.max_attempts = max_attempts
        self.max_retry_after_s = max_retry_after_s
        self.auths: dict[str, httpx.Auth | None] = {}  # an endpoint's own, if it differs
        self.budgets: dict[str, str] = {}  # streams of one endpoint spend one budget
        self.pacers: dict[str, Pacer] = {}
        self.stats = CallStats()
        self._lock = threading.Lock()

    def on_origin(self, url: str) -> bool:
        """Whether ``url`` is a path, or on the API's own origin."""
        target, base = httpx.URL(url), self.http.base_url
        return not target.is_absolute_url or (target.scheme, target.host, target.port) == (
            base.scheme, base.host, base.port)

    def same_origin(self, url: str) -> str:
        """``url`` if it is a path or on the API's own origin: a next-page link elsewhere
        would take the credentials with it, so it is refused."""
        if not self.on_origin(url):
            target = httpx.URL(url)
            raise ApiError(0, "FOREIGN_LINK", f"refusing to follow a link to another origin "
                           f"({target.scheme}://{target.host}): the API's credentials would "
                           "go with it")
        return url

    def pacer(self, endpoint: str) -> Pacer:
        with self._lock:
            return self.pacers.setdefault(endpoint, Pacer())

    def request(self, method: str, path: str, endpoint: str, *,
                params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, json: Any = None,
                failed: Callable[[httpx.Response], str | None] | None = None) -> httpx.Response:
        """One call, paced and retried; raises ApiError for answers that retrying won't fix.
        ``failed`` tells a 200 that says it failed (GraphQL's ``errors``): retried as a 5xx."""
        pacer = self.pacer(self.budgets.get(endpoint, endpoint))
        failures = 0
        while True:
            self.stats.add(waited_s=pacer.acquire(self.max_retry_after_s), requests=1)
            try:
                # No params at all for a next-page URL: httpx would drop the URL's own query.
                resp = self.http.request(method, path, params=params or None, headers=headers,
                                         json=json,
                                         auth=self.auths.get(endpoint, httpx.USE_CLIENT_DEFAULT))
            except httpx.TimeoutException:
                pacer.update(httpx.Headers())
                self.stats.add(timeouts=1)
                failures = self._backoff(failures, f"{path} timed out")
                continue
            except httpx.TransportError as exc:
                pacer.update(httpx.Headers())
                failures = self._backoff(failures, f"{path}: {exc}")
                continue
            except BaseException:  # the auth's own error (a token refused): the slot is freed
                pacer.update(httpx.Headers())
                raise
            pacer.update(resp.headers)
            if resp.status_code == 429:
                self.stats.add(rate_limited=1)
                asked = self._asked_wait(resp, pacer)
                wait = 1.0 if asked is None else asked
                log.warning("rate limited", extra={
                    "endpoint": endpoint, "retry_after": wait, "pacer_remaining": pacer.remaining})
                self.stats.add(waited_s=wait)
                time.sleep(wait)
                continue
            if resp.status_code >= 500:
                self.stats.add(server_errors=1)
                failures = self._backoff(failures, f"{path} answered {resp.status_code}",
                                         self._asked_wait(resp, pacer))
                continue
            if resp.status_code >= 400:
                raise self._error(resp)
            why = failed(resp) if failed is not None and resp.status_code == 200 else None
            if why:
                self.stats.add(server_errors=1)
                failures = self._backoff(failures, f"{path} answered 200 with errors: {why}")
                continue
            return resp

    def _asked_wait(self, resp: httpx.Response, pacer: Pacer) -> float | None:
        """The seconds the answer's ``Retry-After`` asks for (None without a readable one),
        held by every caller of the budget; past ``max_retry_after_s`` it is an ApiError."""
        value = resp.headers.get("retry-after")
        wait = seconds_until(value)
        if wait is None:
            return None
        if wait > self.max_retry_after_s:
            raise ApiError(resp.status_code, "RETRY_AFTER_TOO_LONG",
                           f"the API asked to wait {wait:.0f} s before trying again "
                           f"(Retry-After: {value}), more than the {self.max_retry_after_s:.0f} "
                           "s a request waits; the stream tries again later")
        pacer.hold(wait)
        return wait

    def _backoff(self, failures: int, why: str, asked: float | None = None) -> int:
        """Another failed attempt: give up after ``max_attempts``, else wait as the API asked
        or, when it did not say, with exponential backoff and full jitter."""
        failures += 1
        if failures >= self.max_attempts:
            raise ApiError(0, "UNAVAILABLE", f"gave up after {failures} attempts: {why}")
        delay = asked if asked is not None else random.uniform(0, min(10.0, 0.2 * 2 ** failures))
        log.info("retrying", extra={"why": why, "attempt": failures, "delay_s": round(delay, 2),
                                    "retry_after": asked is not None})
        self.stats.add(waited_s=delay)
        time.sleep(delay)
        return failures

    @staticmethod
    def _error(resp: httpx.Response) -> ApiError:
        try:
            body = resp.json()
            code, message = str(body.get("code", "")), str(body.get("message", resp.text))
        except ValueError:
            code, message = "", resp.text[:200]
        kind = {"CURSOR_EXPIRED": CursorExpired,
                "INVALID_STREAM_TOKEN": TokenExpired}.get(code, ApiError)
        return kind(resp.status_code, code, message)
