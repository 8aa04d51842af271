"""The rate-limit headers APIs send, read into one shape: ``(limit, remaining, reset_in_s)``.

Names are read case-insensitively; the first family that says how many requests remain wins:

- ``RateLimit``, the structured field of the IETF drafts: draft 07 writes
  ``limit=100, remaining=50, reset=30``; draft 08 and later write ``"default";r=50;t=30``
  and leave the limit to ``RateLimit-Policy: "default";q=100;w=60``. Of several policies,
  the one with the fewest requests remaining binds.
- ``RateLimit-Limit/-Remaining/-Reset`` (IETF drafts up to 06; the limit may list policies,
  ``100, 100;w=60``, whose first number counts).
- ``X-RateLimit-Limit/-Remaining/-Reset``, GitHub's included (its ``-Used`` stands in for a
  missing ``-Remaining``).
- ``X-Rate-Limit-Limit/-Remaining/-Reset`` (Twitter).

A reset may be seconds from now, an epoch timestamp (above 1e9: epoch seconds, as GitHub and
Twitter send; above 1e12: epoch milliseconds) or an HTTP-date. Anything unreadable is None.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import NamedTuple

EPOCH_S = 1e9  # 2001-09-09; as a delta, 31 years
EPOCH_MS = 1e12
PREFIXES = ("ratelimit-", "x-ratelimit-", "x-rate-limit-")


class Limits(NamedTuple):
    limit: int | None
    remaining: int | None
    reset_in_s: float | None


def read_limits(headers: Mapping[str, str]) -> Limits:
    """What ``headers`` say of the request budget: the window's limit, the requests
    remaining in it and the seconds until it resets, each None when not said."""
    h = {k.lower(): v for k, v in headers.items()}
    if "ratelimit" in h:
        found = _structured(h["ratelimit"], h.get("ratelimit-policy", ""))
        if found.remaining is not None:
            return found
    for prefix in PREFIXES:
        limit, remaining = _count(h.get(prefix + "limit")), _count(h.get(prefix + "remaining"))
        used = _count(h.get(prefix + "used"))
        if remaining is None and limit is not None and used is not None:
            remaining = max(0, limit - used)
        if remaining is not None:
            return Limits(limit, remaining, seconds_until(h.get(prefix + "reset")))
    return Limits(None, None, None)


def seconds_until(value: str | None) -> float | None:
    """Seconds from now until ``value``: a number of seconds, an epoch timestamp (seconds or
    milliseconds) or an HTTP-date; 0 for a time past, None for anything unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    else:
        if seconds > EPOCH_MS:
            seconds = seconds / 1000 - time.time()
        elif seconds > EPOCH_S:
            seconds -= time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _count(value: str | None) -> int | None:
    """A count such as ``50``; of a list of policies (``100, 100;w=60``), the first."""
    if value is None:
        return None
    try:
        return max(0, int(float(value.split(",")[0].split(";")[0].strip())))
    except (ValueError, OverflowError):  # not a number, or "inf"
        return None


def _structured(value: str, policy: str) -> Limits:
    """The ``RateLimit`` field with ``RateLimit-Policy``, in either draft's syntax."""
    flat, items = _members(value)
    _, policies = _members(policy)
    if flat:  # draft 07: limit=, remaining=, reset=; its policy is ``100;w=10``
        limit = _count(flat.get("limit"))
        if limit is None and policies:
            limit = _count(policies[0][0])
        return Limits(limit, _count(flat.get("remaining")), seconds_until(flat.get("reset")))
    # Draft 08 on: one item per policy; the one with the fewest requests remaining binds.
    said = [(remaining, name, params) for name, params in items
            if (remaining := _count(params.get("r"))) is not None]
    if not said:
        return Limits(None, None, None)
    remaining, name, params = min(said, key=lambda item: item[0])
    quota = dict(policies).get(name) or (policies[0][1] if len(policies) == 1 else {})
    return Limits(_count(quota.get("q")), remaining, seconds_until(params.get("t")))


def _members(value: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
    """A structured field split into its ``key=value`` members and its items with parameters
    (``"name";r=5;t=1`` gives ``("name", {"r": "5", "t": "1"})``)."""
    flat: dict[str, str] = {}
    items: list[tuple[str, dict[str, str]]] = []
    for member in value.split(","):
        head, *rest = (part.strip() for part in member.split(";"))
        params = dict(_pair(p) for p in rest if "=" in p)
        if "=" in head:
            key, val = _pair(head)
            flat[key] = val
        elif head:
            items.append((head.strip('"'), params))
    return flat, items


def _pair(text: str) -> tuple[str, str]:
    key, _, val = text.partition("=")
    return key.strip().lower(), val.strip().strip('"')
