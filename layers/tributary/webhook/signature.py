"""HMAC-SHA256 request signatures: ``X-Hallow-Signature: t=<unix seconds>,v1=<hex>`` over
``"<t>.<raw body>"``, rejected when wrong or older than the tolerance (replays)."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "x-hallow-signature"


class BadSignature(ValueError):
    """401: missing, malformed, stale or wrong signature."""


def sign(secret: str, body: bytes, at: float | None = None) -> str:
    t = str(int(at if at is not None else time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str | None, tolerance_s: float) -> None:
    if not header:
        raise BadSignature("missing X-Hallow-Signature header")
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t, given = int(parts["t"]), parts["v1"]
    except (KeyError, ValueError) as exc:
        raise BadSignature("malformed X-Hallow-Signature header") from exc
    if abs(time.time() - t) > tolerance_s:
        raise BadSignature("stale signature: timestamp outside the allowed window")
    expected = sign(secret, body, t).split("v1=", 1)[1]
    # As bytes: compare_digest refuses a str with non-ASCII text (a header may hold some).
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadSignature("signature does not match the body")
