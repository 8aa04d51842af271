"""The rate-limited client: against the real simulator (pacing, 429s, 5xx, stalls, auth),
then on a clock of its own against a mock API (every rate-limit header family, epoch and
delta resets, Retry-After on 5xx and its cap, jittered backoff)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from tests.unit.extract.conftest import RunningSimulator
from tributary.extract import http, ratelimit_headers
from tributary.extract.http import ApiError, Pacer, RateLimitedClient, permanent
from tributary.extract.ratelimit_headers import read_limits


def _client(sim: RunningSimulator, key: str | None = None, timeout: float = 5.0
            ) -> RateLimitedClient:
    return RateLimitedClient(sim.cfg.url, {"X-API-Key": key or
                                           sim.cfg.api_key.get_secret_value()}, timeout)


def test_pacing_uses_the_budget_without_429s(simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator(rate_events=4, rate_window_s=0.5)
    client = _client(sim)
    with ThreadPoolExecutor(4) as pool:  # parallel callers share one budget
        statuses = list(pool.map(lambda _: client.request(
            "GET", "/api/v1/events", "events", params={"limit": 1}).status_code, range(24)))
    assert statuses == [200] * 24
    assert client.stats.rate_limited == 0
    assert sim.api.limiter.rejected == 0
    assert client.stats.waited_s > 0  # it did have to wait for windows to turn


def test_429_is_survived_with_retry_after(simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator(rate_events=2, rate_window_s=0.5)
    a, b = _client(sim), _client(sim)  # two clients on one key: they cannot pace each other
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda i: (a if i % 2 else b).request(
            "GET", "/api/v1/events", "events", params={"limit": 1}).status_code, range(12)))
    assert codes == [200] * 12
    assert a.stats.rate_limited + b.stats.rate_limited > 0


def test_server_errors_and_stalls_are_retried(simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator(chaos_error_rate=0.2, chaos_stall_rate=0.1, chaos_stall_s=1.0,
                    rate_events=1000)
    client = _client(sim, timeout=0.3)
    for _ in range(15):
        assert client.request("GET", "/api/v1/events", "events").status_code == 200
    assert client.stats.server_errors > 0 and client.stats.timeouts > 0


def test_wrong_key_is_a_clear_error(simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator()
    with pytest.raises(ApiError, match="HTTP 401 UNAUTHORIZED: missing or invalid X-API-Key"):
        _client(sim, key="wrong").request("GET", "/api/v1/events", "events")


def test_bad_cursor_is_a_clear_error(simulator: Callable[..., RunningSimulator]) -> None:
    sim = simulator()
    with pytest.raises(ApiError, match="CURSOR_INVALID"):
        _client(sim).request("GET", "/api/v1/events", "events", params={"cursor": "not-one"})


# -- without a server: a clock of our own, so nothing really sleeps ------------------------
class Clock:
    """Stands in for ``time`` in the client and the header reader: a sleep is recorded and
    moves the clock on by as much."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = time.time() - self.now  # time() = epoch + now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(http, "time", fake)
    monkeypatch.setattr(ratelimit_headers, "time", fake)
    return fake


def _mock(*answers: httpx.Response, **kwargs: Any) -> tuple[RateLimitedClient, list[int]]:
    """A client whose API gives ``answers`` in turn (the last one for ever after), and the
    list its requests are counted in."""
    calls: list[int] = []

    def api(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answers[min(len(calls), len(answers)) - 1]

    return RateLimitedClient("https://api.example.com", {}, 5,
                             transport=httpx.MockTransport(api), **kwargs), calls


IN_30_S = "{in_30_s}"  # replaced by the epoch time 30 s from now, in the unit the test names


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40", "X-RateLimit-Reset": "30"},
     (100, 40)),
    ({"x-ratelimit-limit": "100", "X-RATELIMIT-REMAINING": "40", "X-Ratelimit-Reset": "30.0"},
     (100, 40)),
    # IETF drafts up to 06; the limit may list its policies.
    ({"RateLimit-Limit": "100", "RateLimit-Remaining": "40", "RateLimit-Reset": "30"},
     (100, 40)),
    ({"RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "40", "RateLimit-Reset": "30"},
     (100, 40)),
    # Twitter: X-Rate-Limit-*, the reset in epoch seconds.
    ({"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "40", "X-Rate-Limit-Reset": IN_30_S},
     (100, 40)),
    # GitHub: the reset in epoch seconds; -Used where -Remaining is missing.
    ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40", "X-RateLimit-Used": "60",
      "X-RateLimit-Reset": IN_30_S, "X-RateLimit-Resource": "core"}, (100, 40)),
    ({"X-RateLimit-Limit": "100", "X-RateLimit-Used": "60", "X-RateLimit-Reset": IN_30_S},
     (100, 40)),
    # The structured field: draft 07, and draft 08 on (limit in RateLimit-Policy).
    ({"RateLimit": "limit=100, remaining=40, reset=30"}, (100, 40)),
    ({"RateLimit": "remaining=40, reset=30", "RateLimit-Policy": "100;w=60"}, (100, 40)),
    ({"RateLimit": '"default";r=40;t=30', "RateLimit-Policy": '"default";q=100;w=60'},
     (100, 40)),
    ({"RateLimit": '"burst";r=40;t=30, "daily";r=900;t=80000',  # the binding policy counts
      "RateLimit-Policy": '"burst";q=100;w=60, "daily";q=1000;w=86400'}, (100, 40)),
    ({"RateLimit": '"default";r=40;t=30'}, (None, 40)),  # no policy: the limit is unknown
    ({"X-RateLimit-Limit": "inf", "X-RateLimit-Remaining": "40", "X-RateLimit-Reset": "30"},
     (None, 40)),  # what cannot be read is not said
])
def test_each_header_family_sets_the_pacers_remaining_and_reset(
        clock: Clock, headers: dict[str, str], expected: tuple[int | None, int]) -> None:
    in_30_s = str(int(clock.time() + 30))  # epoch seconds, cut to the second as APIs send
    pacer = Pacer()
    pacer.update(httpx.Headers({k: v.replace(IN_30_S, in_30_s) for k, v in headers.items()}))
    assert (pacer.limit, pacer.remaining) == expected
    assert 29.0 <= pacer.reset_at - clock.monotonic() <= 30.0


@pytest.mark.parametrize(("reset", "seconds"), [
    (lambda now: "30", 30.0),  # seconds from now
    (lambda now: "0.25", 0.25),
    (lambda now: f"{now + 30:.3f}", 30.0),  # epoch seconds (above 1e9)
    (lambda now: str(int((now + 30) * 1000)), 30.0),  # epoch milliseconds (above 1e12)
    (lambda now: formatdate(now + 30, usegmt=True), 30.0),  # an HTTP-date
    (lambda now: f"{now - 60:.0f}", 0.0),  # an epoch already past: the window has turned
    (lambda now: "999999999", 999999999.0),  # just under 1e9 is still a delta (31 years)
])
def test_a_reset_is_told_apart_as_epoch_or_delta(
        clock: Clock, reset: Callable[[float], str], seconds: float) -> None:
    _, _, reset_in_s = read_limits({"X-RateLimit-Remaining": "1", "X-RateLimit-Reset":
                                    reset(clock.time())})
    assert reset_in_s is not None and seconds - 1.0 <= reset_in_s <= seconds + 0.01


def test_a_spent_budget_waits_for_the_reset_then_takes_a_new_window(clock: Clock) -> None:
    pacer = Pacer()
    pacer.acquire()
    pacer.update(httpx.Headers({"RateLimit": '"default";r=0;t=2',
                                "RateLimit-Policy": '"default";q=5;w=2'}))
    assert pacer.acquire() == pytest.approx(2.02)
    assert pacer.remaining == 4  # the new window's limit, less the request just let go


def test_remaining_alone_pauses_at_zero_then_asks_once(clock: Clock) -> None:
    """An API that says only X-RateLimit-Remaining (3 a second here): nothing is hammered."""
    windows: dict[int, int] = {}

    def api(request: httpx.Request) -> httpx.Response:
        window = int(clock.now)
        windows[window] = windows.get(window, 0) + 1
        if windows[window] > 3:
            return httpx.Response(429)
        return httpx.Response(200, headers={"X-RateLimit-Remaining": str(3 - windows[window])})

    client = RateLimitedClient("https://api.example.com", {}, 5,
                               transport=httpx.MockTransport(api))
    for _ in range(9):
        assert client.request("GET", "/x", "x").status_code == 200
    assert client.stats.rate_limited == 0
    assert list(windows.values()) == [3, 3, 3]
    assert clock.sleeps == [pytest.approx(1.02)] * 2  # a short pause each time it ran out


def test_a_budget_spent_for_longer_than_a_request_waits_is_an_error(clock: Clock) -> None:
    reset = str(int(clock.time() + 3600))  # GitHub's hourly budget, spent
    client, calls = _mock(httpx.Response(200, headers={
        "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}))
    client.request("GET", "/x", "x")
    with pytest.raises(ApiError, match=r"429 BUDGET_SPENT: .* resets in 3[56]\d\d s") as raised:
        client.request("GET", "/x", "x")
    assert len(calls) == 1 and clock.sleeps == [] and not permanent(raised.value)


@pytest.mark.parametrize("status", [503, 500, 502])
def test_a_5xx_with_retry_after_in_seconds_waits_that_long(clock: Clock, status: int) -> None:
    client, calls = _mock(httpx.Response(status, headers={"Retry-After": "7"}),
                          httpx.Response(200))
    assert client.request("GET", "/x", "x").status_code == 200
    assert clock.sleeps == [7.0] and len(calls) == 2
    assert client.stats.server_errors == 1 and client.stats.waited_s == 7.0


def test_a_503_with_retry_after_as_a_date_waits_until_then(clock: Clock) -> None:
    when = formatdate(clock.time() + 30, usegmt=True)
    client, _ = _mock(httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200))
    assert client.request("GET", "/x", "x").status_code == 200
    [wait] = clock.sleeps
    assert 29.0 < wait <= 30.0


def test_a_429_without_a_readable_retry_after_waits_a_second(clock: Clock) -> None:
    client, _ = _mock(httpx.Response(429), httpx.Response(429, headers={"Retry-After": "soon"}),
                      httpx.Response(200))
    assert client.request("GET", "/x", "x").status_code == 200
    assert clock.sleeps == [1.0, 1.0] and client.stats.rate_limited == 2


def test_a_retry_after_holds_every_caller_of_the_budget(clock: Clock) -> None:
    pacer = Pacer()
    pacer.hold(5.0)
    assert pacer.acquire() == 5.0


def test_a_503_with_retry_after_is_still_an_attempt(clock: Clock) -> None:
    client, calls = _mock(httpx.Response(503, headers={"Retry-After": "2"}), max_attempts=3)
    with pytest.raises(ApiError, match="gave up after 3 attempts: /x answered 503"):
        client.request("GET", "/x", "x")
    assert clock.sleeps == [2.0, 2.0] and len(calls) == 3


@pytest.mark.parametrize(("status", "retry_after"), [
    (503, "3600"), (503, "{date}"), (429, "86400")])
def test_a_retry_after_past_the_cap_is_an_error_saying_how_long(
        clock: Clock, status: int, retry_after: str) -> None:
    value = retry_after.replace("{date}", formatdate(clock.time() + 3601, usegmt=True))
    client, calls = _mock(httpx.Response(status, headers={"Retry-After": value}))
    with pytest.raises(ApiError, match=rf"HTTP {status} RETRY_AFTER_TOO_LONG: the API asked "
                       r"to wait (360\d|86400) s .*more than the 120 s") as raised:
        client.request("GET", "/x", "x")
    assert clock.sleeps == [] and len(calls) == 1
    assert not permanent(raised.value)  # the stream records it and tries again later


def test_the_cap_is_the_clients_to_set(clock: Clock) -> None:
    client, _ = _mock(httpx.Response(503, headers={"Retry-After": "300"}), httpx.Response(200),
                      max_retry_after_s=600)
    assert client.request("GET", "/x", "x").status_code == 200
    assert clock.sleeps == [300.0]


def test_a_503_without_retry_after_backs_off_with_jitter_and_gives_up(
        clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[tuple[float, float]] = []
    uniform = random.uniform

    def drawn(low: float, high: float) -> float:
        draws.append((low, high))
        return uniform(low, high)

    monkeypatch.setattr(random, "uniform", drawn)
    client, calls = _mock(httpx.Response(503), max_attempts=4)
    with pytest.raises(ApiError, match="gave up after 4 attempts: /x answered 503"):
        client.request("GET", "/x", "x")
    assert len(calls) == 4
    assert draws == [(0, 0.4), (0, 0.8), (0, 1.6)]  # full jitter under a doubling ceiling
    assert len(clock.sleeps) == 3
    assert all(0 <= wait <= high for wait, (_, high) in zip(clock.sleeps, draws, strict=True))


def test_a_window_the_server_turned_first_is_taken_up(clock: Clock) -> None:
    """The pacer's reset is a few ms late (answers take time to arrive): a request that went in
    between gets the server's new window, and the pacer takes it rather than waiting one."""
    pacer = Pacer()
    pacer.acquire()
    pacer.update(httpx.Headers({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "5",
                                "X-RateLimit-Reset": "0.005"}))
    pacer.acquire()
    pacer.update(httpx.Headers({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "19",
                                "X-RateLimit-Reset": "2"}))
    assert pacer.remaining == 19
    # Within a window, a late answer with more remaining does not raise the count.
    pacer.update(httpx.Headers({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "19",
                                "X-RateLimit-Reset": "1.97"}))
    for _ in range(3):
        pacer.acquire()
    pacer.update(httpx.Headers({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "18",
                                "X-RateLimit-Reset": "2.01"}))
    assert pacer.remaining == 16
