"""The bazaar's records: a pure function of the seed (articles also of the edit tick)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

EPOCH = 1_790_812_800  # 2026-10-01T00:00:00Z
SKUS = 60


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def users(seed: int, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "login": f"user{i:04d}", "name": f"User {i}",
             "created_at": iso(EPOCH + i * 3_600)} for i in range(1, n + 1)]


def user_status(user_id: int) -> int:
    """200, or 404 for a deleted user and 403 for a private one (each child route says so)."""
    return 404 if user_id % 17 == 0 else 403 if user_id % 23 == 0 else 200


def orders(seed: int, user_id: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 1_000_003 + user_id)
    out = []
    for k in range(rng.randrange(0, 5)):
        order_id = f"o-{user_id}-{k}"
        qty = [rng.randint(1, 4) for _ in range(rng.randint(1, 3))]
        lines = [{"order_id": order_id, "line_no": n + 1, "sku": f"sku-{rng.randrange(SKUS):03d}",
                  "qty": q} for n, q in enumerate(qty)]
        out.append({"order_id": order_id, "placed_at": iso(EPOCH + user_id * 600 + k * 60),
                    "total_cents": sum(qty) * 1_250, "lines": lines})
    return out


def products(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 7)
    return [{"sku": f"p-{i:05d}", "title": f"Product {i}", "price": {"cents": rng.randrange(
        100, 90_000), "currency": "EUR"}} for i in range(1, n + 1)]


def reviews(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 13)
    return [{"review_id": f"r-{i:05d}", "sku": f"p-{rng.randrange(1, 400):05d}",
             "stars": rng.randint(1, 5), "written_at": iso(EPOCH + i * 90)}
            for i in range(1, n + 1)]


def articles(seed: int, n: int, ticks: int, per_tick: int) -> list[dict[str, Any]]:
    """Every article as of edit tick ``ticks``: each tick edits ``per_tick`` of them."""
    updated = {i: EPOCH + i * 60 for i in range(1, n + 1)}
    revision = dict.fromkeys(updated, 1)
    for t in range(1, ticks + 1):
        rng = random.Random(seed * 31 + t)
        for i in rng.sample(range(1, n + 1), min(per_tick, n)):
            updated[i] = EPOCH + 86_400 * 60 + t  # later than any first version
            revision[i] += 1
    return [{"id": i, "title": f"Article {i}", "revision": revision[i],
             "updated_at": iso(updated[i])} for i in range(1, n + 1)]
