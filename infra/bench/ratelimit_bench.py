"""How the rate-limited client spends a fixed-window budget, by what the API tells it.

    .venv/bin/python infra/bench/ratelimit_bench.py [--pages 200] [--limit 20] [--window 2]
        [--workers 4] [--latency-ms 10] [--cases x-ratelimit,none,...]

A real local HTTP server (starlette under uvicorn, in a thread) allows ``--limit`` requests
per ``--window`` seconds (fixed windows aligned to the clock) and answers past it with 429
and ``Retry-After`` (whole seconds, rounded up). ``--workers`` threads share one
``RateLimitedClient`` (one budget, as a source's partitions do) and fetch ``--pages`` pages.
The cases differ only in what the server says of its budget:

- ``x-ratelimit``: ``X-RateLimit-Limit/-Remaining/-Reset`` (reset in seconds, to the ms);
- ``x-ratelimit-ignored``: the same headers, which the client drops before its pacer sees them;
- ``none``: nothing: the client learns only from 429s;
- ``ietf``: ``RateLimit-Limit/-Remaining/-Reset`` (IETF draft 06; reset in whole seconds);
- ``github``: ``X-RateLimit-*`` with the reset as epoch seconds, and ``-Used``;
- ``structured``: ``RateLimit: "default";r=..;t=..`` with ``RateLimit-Policy`` (draft 08 on);
- ``remaining-only``: ``X-RateLimit-Remaining`` alone;
- ``503-retry-after``: nothing, and past the budget 503 with ``Retry-After`` instead of 429.

Per case it prints the requests the server saw, how many it refused (429 or 503), the client
calls that failed for good, wall seconds, pages/s and the client's waits (summed over the
workers). It imports the client from the tree it
is in, so a copy dropped into an older checkout measures that one.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers"))
os.environ.setdefault("TRIBUTARY_LOG_LEVEL", "ERROR")  # a 429 is counted here, not logged

import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

CASES = ["x-ratelimit", "x-ratelimit-ignored", "none", "ietf", "github", "structured",
         "remaining-only", "503-retry-after"]


@dataclass
class FixedWindow:
    """``limit`` requests per ``window_s``, windows aligned to the epoch."""

    limit: int
    window_s: float
    latency_s: float
    mode: str = "none"
    requests: int = 0
    refused: int = 0
    counts: dict[int, int] = field(default_factory=dict)

    def headers(self, window: int, used: int, now: float) -> dict[str, str]:
        remaining = max(0, self.limit - used)
        end = (window + 1) * self.window_s
        reset = end - now
        whole = str(max(1, math.ceil(reset)))
        if self.mode.startswith("x-ratelimit"):
            return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": f"{reset:.3f}"}
        if self.mode == "ietf":
            return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": whole}
        if self.mode == "github":
            return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Used": str(min(used, self.limit)),
                    "X-RateLimit-Reset": str(math.ceil(end)), "X-RateLimit-Resource": "core"}
        if self.mode == "structured":
            return {"RateLimit": f'"default";r={remaining};t={whole}',
                    "RateLimit-Policy": f'"default";q={self.limit};w={self.window_s:g}'}
        if self.mode == "remaining-only":
            return {"X-RateLimit-Remaining": str(remaining)}
        return {}

    async def page(self, request: Request) -> JSONResponse:
        now = time.time()
        window = int(now // self.window_s)
        used = self.counts.get(window, 0) + 1  # one event loop: no lock needed
        self.counts[window] = used
        self.requests += 1
        headers = self.headers(window, used, now)
        if used > self.limit:
            self.refused += 1
            wait = max(1, math.ceil((window + 1) * self.window_s - now))
            status = 503 if self.mode == "503-retry-after" else 429
            return JSONResponse({"message": "slow down"}, status,
                                {**headers, "Retry-After": str(wait)})
        await asyncio.sleep(self.latency_s)
        n = int(request.query_params.get("page", "0"))
        return JSONResponse({"page": n, "data": [{"id": n * 10 + i} for i in range(10)]},
                            headers=headers)


class Server:
    def __init__(self, api: FixedWindow) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        app = Starlette(routes=[Route("/items", api.page)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def run(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from tributary.extract.http import RateLimitedClient

    api = FixedWindow(args.limit, args.window, args.latency_ms / 1000, mode)
    with Server(api) as server:
        client = RateLimitedClient(f"http://127.0.0.1:{server.port}", {}, 10.0)
        if mode.endswith("-ignored"):
            pacer = client.pacer("items")
            heed = pacer.update
            pacer.update = lambda headers: heed(httpx.Headers())  # type: ignore[method-assign]
        # Start at the top of a window, so each case meets the same windows.
        time.sleep(args.window - time.time() % args.window)
        failed = 0

        def fetch(n: int) -> None:
            nonlocal failed
            try:
                client.request("GET", "/items", "items", params={"page": n})
            except Exception:  # noqa: BLE001 - counted: a page the stream would retry later
                failed += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(fetch, range(args.pages)))
        wall = time.perf_counter() - started
    return {"case": mode, "requests": api.requests, "refused": api.refused,
            "failed": failed, "wall_s": wall, "pages_per_s": (args.pages - failed) / wall,
            "waited_s": client.stats.waited_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--limit", type=int, default=20, help="requests a window allows")
    parser.add_argument("--window", type=float, default=2.0, help="the window, seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    ideal = args.pages / args.limit * args.window
    print(f"{args.pages} pages, {args.limit} requests per {args.window:g} s window, "
          f"{args.workers} workers, {args.latency_ms:g} ms a page; the budget allows "
          f"{args.limit / args.window:.1f} pages/s (>= {ideal - args.window:.0f} s)")
    print(f"{'case':<17}{'requests':>9}{'429/503':>9}{'failed':>8}{'wall s':>8}"
          f"{'pages/s':>9}{'waited s':>10}")
    for mode in args.cases.split(","):
        r = run(mode, args)
        print(f"{r['case']:<17}{r['requests']:>9}{r['refused']:>9}{r['failed']:>8}"
              f"{r['wall_s']:>8.1f}{r['pages_per_s']:>9.2f}{r['waited_s']:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
