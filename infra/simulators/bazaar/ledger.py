"""The bazaar's ledger: records for the API shapes a plain GET listing cannot show.

Invoices (GraphQL, cursor in ``pageInfo``), charges (Stripe-style ``starting_after`` the last
id, ``has_more``), members of a fixed list of organisations, and tickets read through an
incremental export (``start_time`` inclusive, ``end_time``, ``end_of_stream``). Pure
functions of the seed (tickets also of the edit tick).
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from typing import Any

from simulators.bazaar.data import EPOCH, iso

ORGS = {"acme": 37, "globex": 64, "initech": 0}  # members per organisation (times a scale)


def org_sizes(scale: int) -> dict[str, int]:
    return {org: n * scale for org, n in ORGS.items()}


def invoices(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 17)
    return [{"id": f"inv_{i:05d}", "number": f"B-{2026_0000 + i}",
             "amountCents": rng.randrange(500, 250_000), "issuedAt": iso(EPOCH + i * 1_800),
             "customer": {"id": f"cus_{rng.randrange(1, 90):03d}"}} for i in range(1, n + 1)]


def charges(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed * 19)
    return [{"id": f"ch_{i:06d}", "object": "charge", "amount": rng.randrange(100, 99_000),
             "currency": "eur", "paid": rng.random() > 0.1, "created": EPOCH + i * 300}
            for i in range(1, n + 1)]


def members(org: str, scale: int = 1) -> list[dict[str, Any]]:
    roles = ("owner", "admin", "member", "member", "guest")
    return [{"id": f"{org}-m{i:04d}", "name": f"{org.title()} member {i}",
             "role": roles[i % len(roles)]} for i in range(1, ORGS[org] * scale + 1)]


def tickets(seed: int, n: int, ticks: int, per_tick: int) -> list[dict[str, Any]]:
    """Every ticket as of edit tick ``ticks``; an edit moves ``updated_at`` (epoch s) past
    every earlier one, each to a time of its own (an export pages by time)."""
    updated = {i: EPOCH + i * 37 for i in range(1, n + 1)}
    status = dict.fromkeys(updated, "new")
    for t in range(1, ticks + 1):
        rng = random.Random(seed * 41 + t)
        for j, i in enumerate(rng.sample(range(1, n + 1), min(per_tick, n))):
            updated[i] = EPOCH + 86_400 * 60 + t * 100 + j
            status[i] = rng.choice(("open", "pending", "solved"))
    return sorted(({"id": i, "subject": f"Ticket {i}", "status": status[i],
                    "updated_at": updated[i]} for i in range(1, n + 1)),
                  key=lambda r: (r["updated_at"], r["id"]))


def payments(seed: int, n: int) -> list[dict[str, Any]]:
    """The export's rows, as its CSV file holds them (every value text)."""
    rng = random.Random(seed * 23)
    return [{"id": f"pay_{i:06d}", "amount_minor": str(rng.randrange(100, 500_000)),
             "currency": rng.choice(("EUR", "USD", "GBP")),
             "status": rng.choice(("paid", "paid", "paid", "refunded", "void")),
             "created_at": iso(EPOCH + i * 240), "note": rng.choice(("", "gift", "b2b"))}
            for i in range(1, n + 1)]


def payments_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["id"])
    writer.writeheader()
    writer.writerows(rows)
    return gzip.compress(out.getvalue().encode())
