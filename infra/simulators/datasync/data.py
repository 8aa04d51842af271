"""DataSync's dataset, generated lazily and deterministically from a seed.

Events are numbered 0..N-1 in time order; event ``i`` happens at ``ts[i]`` (one int64 array,
not millions of dicts). All other fields of an event come from its block of 10,000 events,
generated with numpy from ``(seed, block)``, so any page of any endpoint can be rebuilt at any
time and always looks the same. Ids encode their index, so ``/events/{id}`` is O(1).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson

from simulators.settings import DatasyncServerSettings
from tributary.normalize.stamp_forms import render

BLOCK = 10_000
TYPES = ["page_view", "click", "api_call", "form_submit", "scroll", "purchase", "error",
         "video_play"]
TYPE_P = [0.35, 0.25, 0.10, 0.10, 0.05, 0.05, 0.05, 0.05]
NAMES = {
    "page_view": ["home", "pricing", "docs", "blog", "signup", "dashboard"],
    "click": ["cta_button", "nav_link", "card", "footer_link"],
    "api_call": ["GET /v1/items", "POST /v1/items", "GET /v1/me"],
    "form_submit": ["contact", "signup", "checkout"],
    "scroll": ["half", "bottom"],
    "purchase": ["starter", "pro", "enterprise"],
    "error": ["TypeError", "NetworkError", "Timeout"],
    "video_play": ["intro", "tutorial", "webinar"],
}
DEVICES = ["desktop", "mobile", "tablet"]
BROWSERS = ["chrome", "safari", "firefox", "edge"]
OSES = ["macos", "windows", "ios", "android", "linux"]
PLACES = [("US", "New York"), ("US", "San Francisco"), ("BR", "Sao Paulo"), ("IT", "Rome"),
          ("FR", "Paris"), ("DE", "Berlin"), ("JP", "Tokyo"), ("IN", "Bangalore")]
OFFSETS = [timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30),
           timedelta(hours=-3)]
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_ID_KEY = 0x5DEECE66D1A5  # 48 bits: scrambles the index stored in an id's last group


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a good 64-bit hash of each element, vectorized."""
    z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return z ^ (z >> np.uint64(31))


_ID_LAYOUT = np.dtype([("a", ">u4"), ("b", ">u2"), ("c", ">u2"), ("d", ">u2"), ("e", ">u8")])


def make_ids(index: np.ndarray, salt: int) -> list[str]:
    """UUID-shaped ids: 64 hash bits, then the index (scrambled) in the last group."""
    h = _mix(index.astype(np.uint64) ^ np.uint64(salt))
    rec = np.empty(len(index), dtype=_ID_LAYOUT)
    rec["a"] = h >> np.uint64(32)
    rec["b"] = (h >> np.uint64(16)) & np.uint64(0xFFFF)
    rec["c"] = np.uint64(0x4000) | (h & np.uint64(0xFFF))
    rec["d"] = np.uint64(0x8000) | ((h >> np.uint64(40)) & np.uint64(0x3FFF))
    rec["e"] = (index.astype(np.uint64) ^ np.uint64(_ID_KEY)) & np.uint64(0xFFFFFFFFFFFF)
    text = rec.tobytes().hex()  # 36 hex digits per id; the first 4 of "e" are zero
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-"
            f"{text[i + 16:i + 20]}-{text[i + 24:i + 36]}" for i in range(0, len(text), 36)]


def iso_many(ms: np.ndarray, offset_minutes: np.ndarray | None = None) -> list[str]:
    """ISO-8601 with milliseconds, vectorized: ``Z``, or the given UTC offsets."""
    if offset_minutes is None:
        return [s + "Z" for s in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")]
    local = np.datetime_as_string((ms + offset_minutes * 60_000).astype("datetime64[ms]"),
                                  unit="ms")
    signs = np.where(offset_minutes < 0, "-", "+")
    hours, minutes = np.abs(offset_minutes) // 60, np.abs(offset_minutes) % 60
    return [f"{t}{s}{h:02d}:{m:02d}" for t, s, h, m in
            zip(local, signs, hours.tolist(), minutes.tolist(), strict=True)]


def index_of_id(event_id: str) -> int | None:
    try:
        return int(event_id.rsplit("-", 1)[1], 16) ^ _ID_KEY
    except (ValueError, IndexError):
        return None


def iso_ms(ms: int, offset: timedelta | None = None) -> str:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    if offset is None:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    local = dt.astimezone(timezone(offset))
    return local.isoformat(timespec="milliseconds")


class Dataset:
    def __init__(self, cfg: DatasyncServerSettings) -> None:
        self.cfg = cfg
        self.n = cfg.events
        span = cfg.days * 86_400_000
        self.ts = cfg.start_ms + (np.arange(self.n, dtype=np.int64) * span) // self.n
        rng = np.random.default_rng([cfg.seed, 1])
        s = cfg.sessions
        self.session_ids = make_ids(np.arange(s), cfg.seed + 101)
        self.session_user = rng.integers(0, cfg.users, s)
        self.session_device = rng.integers(0, len(DEVICES), s)
        self.session_browser = rng.integers(0, len(BROWSERS), s)
        self.session_os = rng.integers(0, len(OSES), s)
        self.session_place = rng.integers(0, len(PLACES), s)
        # Session j spans events [first[j], first[j + 1]): contiguous in time.
        self.session_first = (np.arange(s + 1, dtype=np.int64) * self.n) // s
        self.user_ids = [f"user_{u:05d}" for u in range(cfg.users)]
        self.session_user_list = self.session_user.tolist()
        self.session_refs = [
            {"id": self.session_ids[j], "deviceType": DEVICES[int(self.session_device[j])],
             "browser": BROWSERS[int(self.session_browser[j])]} for j in range(s)]
        self._blocks: OrderedDict[int, tuple[bytes, list[int]]] = OrderedDict()
        self.forms = list(cfg.timestamp_forms)
        self.n_formats = len(self.forms) or (5 if cfg.extra_timestamp_formats else 2)

    # -- events ---------------------------------------------------------------------------------
    def _timestamps(self, ms: np.ndarray, fmts: np.ndarray, lo: int) -> list[Any]:
        """Each event's timestamp in its form: epoch ms, ISO Z, epoch s, numeric string,
        ISO with an offset (the last three only with ``extra_timestamp_formats``), or one of
        the named ``timestamp_forms``."""
        if self.forms:
            return [render(self.forms[f], v) for f, v in zip(fmts.tolist(), ms.tolist(),
                                                              strict=True)]
        offsets = np.array([int(o.total_seconds() // 60) for o in OFFSETS])
        iso_z = iso_many(ms)
        iso_off = iso_many(ms, offsets[(np.arange(len(ms)) + lo) % len(OFFSETS)]) \
            if self.n_formats > 2 else iso_z
        as_list = ms.tolist()
        return [v if f == 0 else z if f == 1 else v / 1000 if f == 2 else str(v) if f == 3
                else o for v, f, z, o in zip(as_list, fmts.tolist(), iso_z, iso_off, strict=True)]

    def _block(self, b: int) -> tuple[bytes, list[int]]:
        """Block ``b``'s events as one comma-joined JSON buffer and each event's offset.

        One buffer, not a bytes object per event: orjson's output objects keep a ~4 KB
        allocation each, whatever their length (200k cached events took 785 MB that way).
        """
        if b in self._blocks:
            self._blocks.move_to_end(b)
            return self._blocks[b]
        lo, hi = b * BLOCK, min(self.n, (b + 1) * BLOCK)
        size = hi - lo
        rng = np.random.default_rng([self.cfg.seed, 2, b])
        idx = np.arange(lo, hi)
        types = rng.choice(len(TYPES), size=size, p=TYPE_P).tolist()
        names = rng.integers(0, 6, size).tolist()
        amounts = rng.integers(100, 100_000, size).tolist()
        fmts = rng.integers(0, self.n_formats, size)
        missing = np.where(rng.random(size) < self.cfg.chaos_missing_rate,
                           rng.integers(1, 4, size), 0).tolist()
        sessions = (np.searchsorted(self.session_first, idx, side="right") - 1).tolist()
        odd = (rng.random(size) < self.cfg.chaos_odd_types_rate).tolist() \
            if self.cfg.chaos_odd_types_rate else [False] * size
        stamps = self._timestamps(self.ts[lo:hi], fmts, lo)
        ids = make_ids(idx, self.cfg.seed)
        out = []
        for k in range(size):
            t = TYPES[types[k]]
            options = NAMES[t]
            name = options[names[k] % len(options)]
            s = sessions[k]
            if t == "purchase":
                props: dict[str, Any] = {"amount": amounts[k] / 100, "currency": "USD",
                                         "plan": name}
            elif t == "error":
                props = {"message": "something failed", "code": amounts[k] % 600}
            else:
                props = {"page": f"/{name}"}
            event: dict[str, Any] = {
                "id": ids[k], "sessionId": self.session_ids[s],
                "userId": self.user_ids[self.session_user_list[s]], "type": t, "name": name,
                "properties": props, "timestamp": stamps[k],
                "session": self.session_refs[s],
            }
            every = self.cfg.chaos_bad_timestamp_every
            if every and (lo + k + 1) % every == 0:
                event["timestamp"] = "the day after tomorrow"
            if missing[k]:
                del event[("type", "timestamp", "sessionId")[missing[k] - 1]]
            elif odd[k]:
                _oddly_typed(event)
            out.append(orjson.dumps(event))
        starts = [0]
        for part in out:
            starts.append(starts[-1] + len(part) + 1)  # +1: the comma after each event
        block = (b",".join(out), starts)
        self._blocks[b] = block
        if len(self._blocks) > 32:  # about 3 MB each
            self._blocks.popitem(last=False)
        return block

    def event_json(self, i: int) -> bytes:
        buf, starts = self._block(i // BLOCK)
        j = i % BLOCK
        return buf[starts[j]:starts[j + 1] - 1]

    def events_json(self, indices: range) -> list[bytes]:
        """JSON fragments that, comma-joined, list the events of ``indices`` in that order.

        Ascending ranges come back as one slice per block; descending ones event by event.
        """
        if indices.step != 1:
            return [self.event_json(i) for i in indices]
        out = []
        i = indices.start
        while i < indices.stop:
            buf, starts = self._block(i // BLOCK)
            lo = i % BLOCK
            hi = min(BLOCK, lo + indices.stop - i, len(starts) - 1)
            out.append(buf[starts[lo]:starts[hi] - 1])
            i += hi - lo
        return out

    def event(self, i: int) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.event_json(i))
        return parsed

    def range_for(self, since_ms: int, until_ms: int) -> tuple[int, int]:
        """Indices [lo, hi) of events with since <= ts < until."""
        lo = int(np.searchsorted(self.ts, since_ms, side="left"))
        hi = int(np.searchsorted(self.ts, until_ms, side="left"))
        return lo, hi

    # -- sessions -------------------------------------------------------------------------------
    def session(self, j: int) -> dict[str, Any]:
        first, last = int(self.session_first[j]), int(self.session_first[j + 1]) - 1
        started, ended = int(self.ts[first]), int(self.ts[max(first, last)])
        country, city = PLACES[int(self.session_place[j])]
        out: dict[str, Any] = {
            "id": self.session_ids[j],
            "userId": self.user_ids[int(self.session_user[j])],
            "deviceType": DEVICES[int(self.session_device[j])],
            "browser": BROWSERS[int(self.session_browser[j])],
            "os": OSES[int(self.session_os[j])],
            "country": country,
            "city": city,
            "startedAt": iso_ms(started),
            "endedAt": iso_ms(ended),
            "duration": (ended - started) // 1000,
            "eventCount": last - first + 1,
        }
        if self.forms:
            form = self.forms[j % len(self.forms)]
            out["startedAt"], out["endedAt"] = render(form, started), render(form, ended)
        rate = self.cfg.chaos_odd_types_rate
        if rate and random.Random(self.cfg.seed * 7919 + j).random() < rate:
            out |= {"duration": str(out["duration"]), "eventCount": float(out["eventCount"]),
                    "deviceType": None}
        return out


def _oddly_typed(event: dict[str, Any]) -> None:
    """Every field still there and still meaning the same, but not typed as usual."""
    event["properties"] = {k: str(v) for k, v in event["properties"].items()}
    event["session"] = {"id": event["session"]["id"], "deviceType": None, "browser": None}
    if isinstance(event["timestamp"], int | float):
        event["timestamp"] = str(event["timestamp"])
