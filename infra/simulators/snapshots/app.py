"""Three whole-dataset endpoints (SPEC 4.3), each regenerating on its own period.

A generation is a pure function of (seed, endpoint, generation number): each row has its own
rhythm of change, so between two generations a few rows appear, change or vanish and most
stay as they were; now and then a generation is empty. A generation identical to the one
before has the same strong ``ETag``, and ``If-None-Match`` with it answers 304.
``POST /_sim/freeze`` (``{"frozen": false}`` to thaw) holds every endpoint at its current
generation: a soak run's quiet phase, when no source has new data.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.settings import SnapshotsSettings

CITIES = [("Lisbon", "PT"), ("Rome", "IT"), ("Lyon", "FR"), ("Recife", "BR"), ("Austin", "US")]
CATEGORIES = ["books", "audio", "apparel", "devotional", "gifts"]


def _product(i: int, v: int, rng: random.Random) -> dict[str, Any]:
    return {"sku": f"sku-{i:05d}", "name": f"Product {i}", "category": CATEGORIES[i % 5],
            "price_cents": 100 + rng.randrange(20_000), "in_stock": rng.random() > 0.2,
            "updated_at": 1_790_812_800 + v * 3_600}


def _price(i: int, v: int, rng: random.Random) -> dict[str, Any]:
    return {"id": f"price-{i}", "sku": f"sku-{i % 97:05d}", "currency": ["USD", "EUR"][i % 2],
            "amount": round(rng.uniform(1, 500), 2),
            "valid_from": f"2026-10-{1 + v % 28:02d}T00:00:00Z"}


def _store(i: int, v: int, rng: random.Random) -> dict[str, Any]:
    city, country = CITIES[i % 5]
    return {"store_id": f"store-{i}", "city": city, "country": country,
            "open": rng.random() > 0.1, "staff": rng.randrange(3, 40)}


@dataclass(frozen=True)
class Dataset:
    name: str
    make: Callable[[int, int, random.Random], dict[str, Any]]


DATASETS = (Dataset("products", _product), Dataset("prices", _price), Dataset("stores", _store))


class Snapshots:
    def __init__(self, cfg: SnapshotsSettings, started: float | None = None) -> None:
        self.cfg = cfg
        self.started = time.time() if started is None else started
        self.periods = dict(zip((d.name for d in DATASETS), cfg.periods_s, strict=True))
        self.calls: dict[str, dict[str, int]] = {
            d.name: {"requests": 0, "not_modified": 0, "generations_served": 0} for d in DATASETS}
        self._cache: dict[tuple[str, int], tuple[bytes, str]] = {}
        self.frozen: dict[str, int] | None = None  # each endpoint's generation, held

    def generation(self, name: str, now: float | None = None) -> int:
        if self.frozen is not None:
            return self.frozen[name]
        return int(((time.time() if now is None else now) - self.started) // self.periods[name])

    def rows(self, d: Dataset, g: int) -> list[dict[str, Any]]:
        salt = self.cfg.seed * 1_000 + DATASETS.index(d)
        if random.Random(salt * 7 + g).random() < self.cfg.empty_rate:
            return []
        out = []
        for i in range(1, self.cfg.rows + 1):
            rhythm = random.Random(salt * 100_003 + i)
            every = rhythm.randint(4, 40)  # generations between this row's changes
            version = (g + rhythm.randrange(every)) // every
            rng = random.Random(hash((salt, i, version)) & 0xFFFFFFFF)
            if rng.random() < 0.08:
                continue  # absent in this version: vanished, or not there yet
            out.append(d.make(i, version, rng))
        return out

    def body(self, d: Dataset, g: int) -> tuple[bytes, str]:
        if (d.name, g) not in self._cache:
            body = orjson.dumps({"items": self.rows(d, g)})
            self._cache = {(d.name, g): (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'),
                           **{k: v for k, v in self._cache.items() if k[0] != d.name}}
        return self._cache[(d.name, g)]

    def endpoint(self, d: Dataset) -> Callable[[Request], Any]:
        async def serve(request: Request) -> Response:
            stats = self.calls[d.name]
            stats["requests"] += 1
            body, etag = self.body(d, self.generation(d.name))
            if request.headers.get("if-none-match") == etag:
                stats["not_modified"] += 1
                return Response(status_code=304, headers={"ETag": etag})
            stats["generations_served"] += 1
            return Response(body, 200, headers={"ETag": etag}, media_type="application/json")
        return serve

    def app(self) -> Starlette:
        async def health(request: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        async def stats(request: Request) -> JSONResponse:
            return JSONResponse(self.calls)

        async def freeze(request: Request) -> JSONResponse:
            on = bool(orjson.loads(await request.body() or b"{}").get("frozen", True))
            self.frozen = None  # thawed first, so a freeze holds the generation of now
            if on:
                self.frozen = {d.name: self.generation(d.name) for d in DATASETS}
            return JSONResponse({"frozen": self.frozen})

        return Starlette(routes=[Route("/health", health), Route("/stats", stats),
                                 Route("/_sim/freeze", freeze, methods=["POST"]),
                                 *(Route(f"/snapshots/{d.name}", self.endpoint(d))
                                   for d in DATASETS)])
