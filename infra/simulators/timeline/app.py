"""The timeline simulator (SPEC 4.4): ``GET /data?start=&stop=`` and a broadcast WebSocket.

Each tick (a second by default) 0 to ``max_ops`` operations are applied to the table and sent
to every socket on ``/data``. Broadcast only: no sequence numbers, no replay, and whatever a
client sends is ignored. With ``chaos_drop_rate`` a socket is dropped now and then.
``POST /control`` holds the operations (``{"paused": true}``: tests let a copy settle), sets
the rate, or drops every socket; ``/stats`` counts what was sent and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from simulators.settings import TimelineSettings
from simulators.timeline.table import TimelineTable

_PARAMS = ("start", "stop")


class Timeline:
    def __init__(self, cfg: TimelineSettings) -> None:
        self.cfg = cfg
        self.table = TimelineTable(cfg.rows, cfg.seed, cfg.now_s or int(time.time()), cfg.days)
        self.chaos = np.random.default_rng(cfg.seed + 1)
        self.sockets: set[WebSocket] = set()
        self.paused = False
        self.max_ops, self.tick_s = cfg.max_ops, cfg.tick_s
        self.stats = {"ticks": 0, "operations": 0, "messages_sent": 0, "drops": 0,
                      "connections": 0, "data_requests": 0, "not_modified": 0}

    # -- HTTP ------------------------------------------------------------------------------------
    async def data(self, request: Request) -> Response:
        bounds: dict[str, int | None] = {"start": None, "stop": None}
        for key, value in request.query_params.multi_items():
            if key not in _PARAMS:
                return JSONResponse({"error": f"unknown parameter {key}"}, 400)
            try:
                bounds[key] = int(value)
            except ValueError:
                return JSONResponse({"error": f"{key} must be an integer, got {value!r}"}, 400)
        self.stats["data_requests"] += 1
        body = orjson.dumps(self.table.select(bounds["start"], bounds["stop"]))
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        if request.headers.get("if-none-match") == etag:
            self.stats["not_modified"] += 1
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, 200, headers={"ETag": etag}, media_type="application/json")

    async def control(self, request: Request) -> Response:
        """``paused``, ``max_ops``, ``tick_s`` (a burst, say), ``do`` (operations made and
        broadcast now), ``drop`` (every socket now)."""
        body = orjson.loads(await request.body() or b"{}")
        self.paused = bool(body.get("paused", self.paused))
        self.max_ops = int(body.get("max_ops", self.max_ops))
        self.tick_s = float(body.get("tick_s", self.tick_s))
        made = []
        try:
            made = [self.table.make(op, int(time.time())) for op in body.get("do") or []]
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if made:
            texts = [orjson.dumps(op).decode() for op in made]
            self.stats["operations"] += len(made)
            await asyncio.gather(*(self._send(ws, texts) for ws in list(self.sockets)))
        if body.get("drop"):
            for ws in list(self.sockets):
                self.sockets.discard(ws)
                self.stats["drops"] += 1
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)
        return JSONResponse({"paused": self.paused, "max_ops": self.max_ops,
                             "tick_s": self.tick_s, "made": made})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats_view(self, request: Request) -> Response:
        return JSONResponse({**self.stats, "rows": self.table.live, "paused": self.paused,
                             "sockets": len(self.sockets)})

    # -- the change stream -----------------------------------------------------------------------
    async def socket(self, ws: WebSocket) -> None:
        await ws.accept()
        self.sockets.add(ws)
        self.stats["connections"] += 1
        try:
            while True:
                await ws.receive_text()  # ignored, as the spec says
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.discard(ws)

    async def broadcast(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            if self.paused:
                continue
            self.stats["ticks"] += 1
            count = int(self.table.rng.integers(0, self.max_ops + 1))
            ops = self.table.operations(count, int(time.time()))
            self.stats["operations"] += len(ops)
            texts = [orjson.dumps(op).decode() for op in ops]
            await asyncio.gather(*(self._send(ws, texts) for ws in list(self.sockets)))

    async def _send(self, ws: WebSocket, texts: list[str]) -> None:
        try:
            if self.cfg.chaos_drop_rate and self.chaos.random() < self.cfg.chaos_drop_rate:
                self.stats["drops"] += 1
                self.sockets.discard(ws)
                await ws.close(code=1011)
                return
            for text in texts:
                await ws.send_text(text)
                self.stats["messages_sent"] += 1
        except Exception:  # noqa: BLE001 - a socket gone mid-send is simply gone
            self.sockets.discard(ws)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self.broadcast())
        try:
            yield
        finally:
            task.cancel()

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/health", self.health), Route("/stats", self.stats_view),
            Route("/control", self.control, methods=["POST"]), Route("/data", self.data),
            WebSocketRoute("/data", self.socket),
            WebSocketRoute("/{path:path}", _not_found),
        ], lifespan=self._lifespan)


async def _not_found(ws: WebSocket) -> None:
    await ws.send_denial_response(JSONResponse({"error": "not found"}, 404))
