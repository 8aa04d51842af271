"""Talking to a live source: windows of rows over HTTP, changes over a WebSocket.

The socket is read by a thread that reconnects with backoff (jittered, capped) and puts into
one queue, in arrival order, every message with its arrival time, and a ``Connected`` marker
at every (re)connect, which tells the consumer a gap may lie behind it.
"""

from __future__ import annotations

import io
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from tributary.extract.auth import auth_for, prepared
from tributary.extract.http import ApiError
from tributary.load.tables import COLUMN_TYPES
from tributary.log import get_logger
from tributary.sources.live import ChangeStream, LiveSource

log = get_logger("live.upstream")
OPEN_START, OPEN_STOP = -(2**53), 2**53  # the open ends of the window plan


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    received_at: float


@dataclass(frozen=True, slots=True)
class Connected:
    at: float
    attempt: int


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    stop: int
    csv: bytes  # the rows as CSV in the declared column order, made off the applying thread
    rows: int
    body: bytes
    read_at: float  # when the request was sent: the rows are at least this fresh


def plan(source: LiveSource, now_s: float) -> list[tuple[int, int]]:
    """Windows aligned to ``window_s`` over now + ``plan_s``, plus both open ends."""
    s = source.stream
    w = s.window_s
    first = int((now_s + s.plan_s[0]) // w) * w
    last = -int(-(now_s + s.plan_s[1]) // w) * w
    edges = list(range(first, last + 1, w))
    return [(OPEN_START, first), *zip(edges, edges[1:], strict=False), (last, OPEN_STOP)]


class Upstream:
    def __init__(self, source: LiveSource) -> None:
        self.source = source
        # The listener's socket takes the same (Listener's auth): one token, one refresh.
        self.auth = auth_for(source.auth, source.base_url, owner=source.name)
        self.http = httpx.Client(base_url=source.base_url, timeout=source.timeout_s,
                                 auth=self.auth)

    def window(self, start: int, stop: int, attempts: int = 5) -> Window:
        s = self.source.stream
        for attempt in range(attempts):
            read_at = time.time()
            try:
                resp = self.http.get(s.endpoint, params={s.start_param: start,
                                                         s.stop_param: stop})
                if resp.status_code < 500 and resp.status_code != 429:
                    resp.raise_for_status()
                    rows = orjson.loads(resp.content)
                    if not isinstance(rows, list):
                        raise ValueError(f"{s.endpoint}: expected a JSON list of rows")
                    return Window(start, stop, as_csv(s, rows), len(rows), resp.content,
                                  read_at)
                why = f"HTTP {resp.status_code}"
            except (httpx.TransportError, orjson.JSONDecodeError) as exc:
                why = str(exc)
            log.warning("window read failed; retrying", extra={
                "start": start, "stop": stop, "attempt": attempt + 1, "error": why})
            time.sleep(min(5.0, 0.2 * 2**attempt) * random.random())
        raise RuntimeError(f"{s.endpoint} [{start}, {stop}): failed {attempts} times")

    def close(self) -> None:
        self.http.close()


def as_csv(stream: ChangeStream, rows: list[dict[str, Any]]) -> bytes:
    """Rows as CSV for COPY: the time column stays epoch seconds, JSON columns are text."""
    fields = []
    for name, col in stream.columns.items():
        arrow = pa.int64() if name == stream.time_column else COLUMN_TYPES[col.type][1]
        fields.append(pa.field(name, pa.string() if col.type == "json" else arrow))
    if any(c.type == "json" for c in stream.columns.values()):
        rows = [{k: orjson.dumps(v).decode() if stream.columns[k].type == "json" and v is not None
                 else v for k, v in r.items()} for r in rows]
    buf = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(rows, pa.schema(fields)), buf,
                    pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


class Listener(threading.Thread):
    """Reads the change stream into ``inbox`` until ``stop`` is set."""

    def __init__(self, source: LiveSource, inbox: queue.Queue[Message | Connected],
                 stop: threading.Event, auth: httpx.Auth | None = None) -> None:
        super().__init__(daemon=True, name=f"listen-{source.name}")
        self.source = source
        # One token across reconnects, and the window reads' one when given (Upstream.auth).
        self.auth = auth if auth is not None else auth_for(source.auth, source.base_url,
                                                           owner=source.name)
        self.inbox = inbox
        self.stop = stop
        self.connects = 0
        self.drops = 0

    def _signed(self) -> httpx.Request:
        """The socket's URL and headers with the credentials (a query key goes in the URL,
        which is therefore never logged)."""
        with httpx.Client(timeout=self.source.timeout_s) as client:
            return prepared(self.auth, self.source.socket_url, client)

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                signed = self._signed()
                headers = {k: v for k, v in signed.headers.items() if k.lower() != "host"}
                with connect(str(signed.url), additional_headers=headers,
                             open_timeout=10,
                             ping_interval=5, ping_timeout=10, max_size=2**22) as ws:
                    self.connects += 1
                    failures = 0
                    self.inbox.put(Connected(time.time(), self.connects))
                    while not self.stop.is_set():
                        try:
                            text = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        self.inbox.put(Message(str(text), time.time()))
            except (OSError, WebSocketException, httpx.HTTPError, ApiError) as exc:
                # ApiError: a token or login refused or unavailable (extract.auth's errors)
                self.drops += 1
                failures += 1
                log.warning("change stream dropped; reconnecting", extra={
                    "url": self.source.socket_url, "error": str(exc), "failures": failures})
                self.stop.wait(min(5.0, 0.1 * 2**failures) * (0.5 + random.random() / 2))
