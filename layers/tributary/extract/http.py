"""An HTTP client for rate-limited APIs: paced from the server's rate-limit headers, and
retrying 429s, 5xx and stalls with exponential backoff and full jitter."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tributary.log import get_logger

log = get_logger("extract.http")


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
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


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
    left they sleep until the window turns.
    """

    def __init__(self, margin_s: float = 0.02) -> None:
        self.margin_s = margin_s
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None  # unknown until the first response
        self.reset_at = 0.0
        self.in_flight = 0
        self.window_s: float | None = None  # declared up front; headers still take over

    def declare(self, requests: int, per_s: float) -> None:
        """A limit known from the API's documentation, for APIs that send no headers."""
        with self._lock:
            self.limit, self.window_s = requests, per_s
            self.remaining, self.reset_at = requests, 0.0

    def acquire(self) -> float:
        """Block until a request may go; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                if self.limit is not None and now >= self.reset_at:
                    self.remaining = self.limit  # a new window
                    # Its end is unknown until a response in it says, unless declared.
                    self.reset_at = now + self.window_s if self.window_s else float("inf")
                if self.remaining is None:
                    if self.in_flight == 0:  # learn the budget with a single request
                        self.in_flight += 1
                        return waited
                    pause = 0.01
                elif self.remaining > 0:
                    self.remaining -= 1
                    self.in_flight += 1
                    return waited
                else:
                    pause = (self.reset_at - now + self.margin_s
                             if self.reset_at != float("inf") else 0.01)
            time.sleep(pause)
            waited += pause

    def update(self, headers: httpx.Headers) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            try:
                limit = int(headers["x-ratelimit-limit"])
                remaining = int(headers["x-ratelimit-remaining"])
                reset = float(headers["x-ratelimit-reset"])
            except (KeyError, ValueError):
                return
            reset_at = time.monotonic() + reset
            new_window = self.reset_at == float("inf") or reset_at > self.reset_at + 0.05
            if new_window or self.remaining is None:
                self.remaining = max(0, remaining - self.in_flight)
            else:
                self.remaining = min(self.remaining, remaining)
            self.limit = limit
            self.reset_at = reset_at


class RateLimitedClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float,
                 max_attempts: int = 8, auth: httpx.Auth | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, auth=auth,
                                 transport=transport,
                                 timeout=httpx.Timeout(timeout_s, connect=5.0),
                                 limits=httpx.Limits(max_connections=32))
        self.max_attempts = max_attempts
        self.auths: dict[str, httpx.Auth | None] = {}  # an endpoint's own, if it differs
        self.budgets: dict[str, str] = {}  # streams of one endpoint spend one budget
        self.pacers: dict[str, Pacer] = {}
        self.stats = CallStats()
        self._lock = threading.Lock()

    def same_origin(self, url: str) -> str:
        """``url`` if it is a path or on the API's own origin: a next-page link elsewhere
        would take the credentials with it, so it is refused."""
        target = httpx.URL(url)
        base = self.http.base_url
        if target.is_absolute_url and (target.scheme, target.host, target.port) != (
                base.scheme, base.host, base.port):
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
            self.stats.add(waited_s=pacer.acquire(), requests=1)
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
            pacer.update(resp.headers)
            if resp.status_code == 429:
                self.stats.add(rate_limited=1)
                wait = retry_after_s(resp.headers.get("retry-after"))
                log.warning("rate limited", extra={
                    "endpoint": endpoint, "retry_after": wait, "pacer_remaining": pacer.remaining,
                    "reset": resp.headers.get("x-ratelimit-reset")})
                self.stats.add(waited_s=wait)
                time.sleep(wait)
                continue
            if resp.status_code >= 500:
                self.stats.add(server_errors=1)
                failures = self._backoff(failures, f"{path} answered {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise self._error(resp)
            why = failed(resp) if failed is not None and resp.status_code == 200 else None
            if why:
                self.stats.add(server_errors=1)
                failures = self._backoff(failures, f"{path} answered 200 with errors: {why}")
                continue
            return resp

    def _backoff(self, failures: int, why: str) -> int:
        failures += 1
        if failures >= self.max_attempts:
            raise ApiError(0, "UNAVAILABLE", f"gave up after {failures} attempts: {why}")
        delay = random.uniform(0, min(10.0, 0.2 * 2 ** failures))  # full jitter
        log.info("retrying", extra={"why": why, "attempt": failures, "delay_s": round(delay, 2)})
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
