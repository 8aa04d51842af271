"""Hallow pushes ``{"events": [...]}`` batches to a webhook, like the real partner does.

About 3% of events are delivered a second time (in a later batch), ``user_id`` sometimes comes
as the whole user object, and the body is signed when a signing secret is set. Every count a
reconciliation needs is kept: unique events, repeats, signups, and what was acknowledged.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from simulators.settings import HallowSettings
from tributary.webhook.signature import sign

TYPES = ["click", "view", "purchase", "signup", "pray", "share", "like"]
TYPE_WEIGHTS = [25, 30, 5, 5, 15, 10, 10]
MEDIA = ["video", "audio", "text"]
PRAYERS = ["academic", "podcast", "reflection", "lectio_divina", "rosary", "meditation"]


@dataclass
class Counts:
    unique: int = 0
    repeats: int = 0
    signups: int = 0  # unique signup events (the webhook drops them)
    accepted: int = 0
    duplicates: int = 0
    dropped: int = 0
    failed_requests: int = 0
    requests: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def expected_rows(self) -> int:
        return self.unique - self.signups

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {k: getattr(self, k) for k in ("unique", "repeats", "signups", "accepted",
                                                  "duplicates", "dropped", "failed_requests",
                                                  "requests")} | {
                "expected_rows": self.expected_rows}


class Pusher:
    def __init__(self, cfg: HallowSettings, target_url: str, secret: str | None = None,
                 retries: int = 8) -> None:
        self.cfg = cfg
        self.retries = retries
        self.target_url = target_url
        self.secret = secret
        self.rng = random.Random(cfg.seed)
        self.counts = Counts()
        self._sent: list[dict[str, Any]] = []  # recent events, some of which are re-sent
        self._lock = threading.Lock()
        self.http = httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=64))

    def _event(self) -> dict[str, Any]:
        kind = self.rng.choices(TYPES, TYPE_WEIGHTS)[0]
        user = self.rng.randint(1, self.cfg.users)
        user_id: Any = f"user_{user}"
        if self.rng.random() < self.cfg.user_object_rate:
            user_id = {"user_id": f"user_{user}", "age": 18 + user % 65,
                       "status": ["free", "paid", "trial"][user % 3],
                       "country": ["US", "BR", "IT", "FR"][user % 4]}
        props: dict[str, Any] = {}
        if kind == "purchase":
            props = {"amount": round(self.rng.uniform(1, 200), 2),
                     "product_id": f"prod_{self.rng.randint(1, 50)}"}
        elif kind in ("view", "like", "share"):
            props = {"content_id": f"content_{self.rng.randint(1, self.cfg.contents)}",
                     "media_type": self.rng.choice(MEDIA), "prayer_type": self.rng.choice(PRAYERS)}
        now = datetime.now(UTC)
        stamp = (now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
                 if self.rng.random() < 0.7 else
                 now.astimezone(timezone(timedelta(hours=self.rng.choice([-5, 1, 2, 9]))))
                 .isoformat(timespec="milliseconds"))
        return {"event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "user_id": user_id, "event_type": kind,
                "source": self.rng.choice(["web", "apple", "android"]),
                "timestamp": stamp, "properties": props}

    def batch(self, size: int) -> list[dict[str, Any]]:
        with self._lock:
            events = []
            for _ in range(size):
                if self._sent and self.rng.random() < self.cfg.duplicate_rate:
                    events.append(self._sent.pop(self.rng.randrange(len(self._sent))))
                    self.counts.repeats += 1
                    continue
                e = self._event()
                events.append(e)
                self.counts.unique += 1
                self.counts.signups += e["event_type"] == "signup"
                self._sent.append(e)
                if len(self._sent) > 1000:
                    self._sent.pop(0)
            return events

    def _post(self, body: bytes) -> httpx.Response | None:
        """Deliver once, retrying what a partner retries: no answer, 429 and 5xx."""
        for attempt in range(self.retries + 1):
            headers = {"content-type": "application/json"}
            if self.secret:
                headers["x-hallow-signature"] = sign(self.secret, body)
            try:
                resp = self.http.post(self.target_url, content=body, headers=headers)
                if resp.status_code < 500 and resp.status_code != 429:
                    return resp
            except httpx.HTTPError:
                pass
            time.sleep(min(2.0, 0.1 * 2 ** attempt))
        return None

    def send(self, events: list[dict[str, Any]]) -> None:
        body = orjson.dumps({"events": events})
        started = time.perf_counter()
        resp = self._post(body)
        ok = resp is not None and resp.status_code == 200
        answer = resp.json() if resp is not None and ok else {}
        elapsed = (time.perf_counter() - started) * 1000
        with self.counts.lock:
            self.counts.requests += 1
            self.counts.latencies_ms.append(elapsed)
            if not ok:
                self.counts.failed_requests += 1
                return
            self.counts.accepted += int(answer.get("accepted", 0))
            self.counts.duplicates += int(answer.get("duplicates", 0))
            self.counts.dropped += int(answer.get("dropped", 0))

    def burst(self, events: int, concurrency: int = 8, batch_size: int = 10) -> Counts:
        """Send ``events`` as fast as the webhook takes them (benchmarks, tests)."""
        sizes = [batch_size] * (events // batch_size) + ([events % batch_size]
                                                         if events % batch_size else [])
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda n: self.send(self.batch(n)), sizes))
        return self.counts

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.send(self.batch(self.rng.randint(self.cfg.min_events, self.cfg.max_events)))
            stop.wait(self.rng.uniform(self.cfg.min_interval_s, self.cfg.max_interval_s))
