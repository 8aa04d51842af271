"""A subscriber of the live WebSocket API, for programs (tests, benchmarks, scripts).

It follows the protocol of ``socket_api``: subscribe with the last change number it has,
apply the catch-up, then pushed changes, skipping any at or below the highest applied (a
change committed while it subscribed can come both ways).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
from websockets.sync.client import ClientConnection, connect


class Reload(RuntimeError):
    """Too far behind: read the rows again, then subscribe with ``after=None``."""


class Subscriber:
    def __init__(self, url: str, token: str) -> None:
        self.url = f"{url}?token={quote(token)}"
        self.ws: ClientConnection | None = None
        self._open = contextlib.ExitStack()
        self.last = 0
        self.early: list[dict[str, Any]] = []

    def subscribe(self, start: int, stop: int, after: int | None = None
                  ) -> list[dict[str, Any]]:
        """Connect and subscribe; returns the catch-up (changes after ``after``)."""
        self.ws = self._open.enter_context(connect(self.url, open_timeout=10))
        self.ws.send(orjson.dumps({"action": "subscribe", "start": start, "stop": stop,
                                   "after": after}).decode())
        while True:  # pushes may come before the answer: keep them for later
            msg = orjson.loads(self.ws.recv(timeout=10))
            if msg.get("type") == "changes":
                self.early.extend(msg["changes"])
                continue
            break
        if msg.get("type") == "reload":
            raise Reload(f"reload: {msg.get('seq')}")
        if msg.get("type") != "subscribed":
            raise RuntimeError(f"subscribe refused: {msg}")
        self.last = max(int(msg["seq"]), after or 0)
        caught = list(msg["changes"])
        if caught:
            self.last = max(self.last, caught[-1]["seq"])
        return caught

    def changes(self, seconds: float) -> Iterator[tuple[float, dict[str, Any]]]:
        """Changes as they arrive for ``seconds`` (arrival time, change), each once, in order."""
        assert self.ws is not None, "subscribe first"
        early, self.early = self.early, []
        for change in early:
            if change["seq"] > self.last:
                self.last = change["seq"]
                yield time.time(), change
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = orjson.loads(self.ws.recv(timeout=min(left, 1.0)))
            except TimeoutError:
                continue
            at = time.time()
            for change in msg.get("changes", []):
                if change["seq"] > self.last:
                    self.last = change["seq"]
                    yield at, change

    def close(self) -> None:
        self._open.close()
        self.ws = None
