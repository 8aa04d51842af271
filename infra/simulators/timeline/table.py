"""The timeline's table (SPEC 4.4): rows ``{id, timestamp, body}`` held in numpy arrays.

A million rows as Python objects would cost hundreds of megabytes; here a row is three
integers and a flag. A body is a code naming up to three sentences of a fixed list, rendered
when served. Everything random comes from one seeded generator, so a seed gives the same
table and the same sequence of operations (their timing follows the clock).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SENTENCES = tuple(
    f"{subject} {verb} {thing}."
    for subject in ("The river", "A lantern", "Grandmother", "The choir", "A stranger",
                    "The harbour", "Every morning", "The old bell")
    for verb, thing in (("remembers", "the first snow"), ("carries", "a quiet song"),
                        ("waits for", "the ferry"), ("forgets", "its own name"),
                        ("follows", "the northern road"), ("keeps", "a small promise"),
                        ("hears", "the distant market"), ("counts", "the falling leaves")))
DAY_S = 86_400
_BITS = 6  # 64 sentences: a sentence index fits in 6 bits


def body_text(code: int) -> str:
    count = code & 3
    return " ".join(SENTENCES[(code >> (2 + _BITS * k)) & 63] for k in range(count))


class TimelineTable:
    def __init__(self, rows: int, seed: int, now_s: int, days: int = 30) -> None:
        self.rng = np.random.default_rng(seed)
        self.days = days
        cap = max(16, rows * 2)
        self.ids = np.zeros(cap, np.int64)
        self.ts = np.zeros(cap, np.int64)
        self.code = np.zeros(cap, np.int64)
        self.alive = np.zeros(cap, bool)
        self.n = rows
        self.ids[:rows] = np.arange(1, rows + 1)
        self.ts[:rows] = self._times(now_s, rows)
        self.code[:rows] = self._codes(rows)
        self.alive[:rows] = True
        self.live = rows
        self.index = {int(i): int(i) - 1 for i in range(1, rows + 1)}  # id -> position

    def _times(self, now_s: int, n: int) -> Any:
        return now_s + self.rng.integers(0, self.days * DAY_S, n)

    def _codes(self, n: int) -> Any:
        count = self.rng.integers(0, 4, n)
        picks = self.rng.integers(0, 64, (n, 3))
        shifts = 2 + _BITS * np.arange(3)
        used = np.arange(3)[None, :] < count[:, None]
        return count | np.bitwise_or.reduce(np.where(used, picks << shifts, 0), axis=1)

    def row(self, pos: int) -> dict[str, Any]:
        return {"id": int(self.ids[pos]), "timestamp": int(self.ts[pos]),
                "body": body_text(int(self.code[pos]))}

    def select(self, start: int | None, stop: int | None) -> list[dict[str, Any]]:
        """Live rows with ``start <= timestamp < stop``, ordered by timestamp then id."""
        n = self.n
        mask = self.alive[:n].copy()
        if start is not None:
            mask &= self.ts[:n] >= start
        if stop is not None:
            mask &= self.ts[:n] < stop
        pos = np.flatnonzero(mask)
        pos = pos[np.lexsort((self.ids[pos], self.ts[pos]))]
        ids, ts, codes = self.ids[pos].tolist(), self.ts[pos].tolist(), self.code[pos].tolist()
        bodies: dict[int, str] = {}
        out = []
        for i, t, c in zip(ids, ts, codes, strict=True):
            b = bodies.get(c)
            if b is None:
                b = bodies[c] = body_text(c)
            out.append({"id": i, "timestamp": t, "body": b})
        return out

    # -- operations ----------------------------------------------------------------------------
    def operations(self, count: int, now_s: int) -> list[dict[str, Any]]:
        """``count`` operations, weighted insert 3 : mutate 1 : delete 1, applied as made."""
        kinds = self.rng.choice(5, count)  # 0-2 insert, 3 mutate, 4 delete
        out = []
        for k in kinds.tolist():
            op = self._insert(now_s) if k < 3 or self.live == 0 else (
                self._mutate() if k == 3 else self._delete())
            out.append(op)
        return out

    def make(self, op: dict[str, Any], now_s: int) -> dict[str, Any]:
        """One operation on demand: ``{"type": "insert", "timestamp"?}``, or ``mutate`` /
        ``delete`` of ``{"id"}`` (tests make a change they can watch for)."""
        kind = op.get("type")
        if kind == "insert":
            made = self._insert(now_s)
            if "timestamp" in op:
                pos = self.index[made["id"]]
                self.ts[pos] = int(op["timestamp"])
                made = {"type": "insert", **self.row(pos)}
            return made
        pos = self.index.get(int(op.get("id", 0)), -1)
        if kind not in ("mutate", "delete") or pos < 0 or not self.alive[pos]:
            raise ValueError(f"cannot {kind} {op.get('id')!r}")
        return self._mutate(pos) if kind == "mutate" else self._delete(pos)

    def _random_live(self) -> int:
        while True:
            pos = int(self.rng.integers(0, self.n))
            if self.alive[pos]:
                return pos

    def _insert(self, now_s: int) -> dict[str, Any]:
        if self.n == len(self.ids):
            for name in ("ids", "ts", "code", "alive"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))
        pos, self.n = self.n, self.n + 1
        new_id = int(self.ids[pos - 1]) + 1 if pos else 1
        self.ids[pos], self.alive[pos] = new_id, True
        self.ts[pos] = int(self._times(now_s, 1)[0])
        self.code[pos] = int(self._codes(1)[0])
        self.index[new_id] = pos
        self.live += 1
        return {"type": "insert", **self.row(pos)}

    def _mutate(self, pos: int | None = None) -> dict[str, Any]:
        pos = self._random_live() if pos is None else pos
        old = self.row(pos)
        while True:
            code = int(self._codes(1)[0])
            if body_text(code) != old["body"]:
                break
        self.code[pos] = code
        return {"type": "mutate", "old": old, "new": self.row(pos)}

    def _delete(self, pos: int | None = None) -> dict[str, Any]:
        pos = self._random_live() if pos is None else pos
        self.alive[pos] = False
        self.live -= 1
        return {"type": "delete", **self.row(pos)}
