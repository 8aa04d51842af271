"""The rate-limited client against the real simulator: pacing, 429s, 5xx, stalls, auth."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.unit.extract.conftest import RunningSimulator
from tributary.extract.http import ApiError, RateLimitedClient


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
