"""One timestamp in any standard form, as UTC epoch milliseconds, with the standard library
only: the rules of ``timestamps.py`` (which reads whole pages with numpy and pyarrow), for
code that has one value and neither library (the fetch function's artifact has neither)."""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime
from typing import Any

SECONDS_BELOW = 1e11  # epoch numbers are told apart by magnitude (see timestamps.py)
MILLIS_BELOW = 1e14
MICROS_BELOW = 1e17
INT64_LIMIT = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def one_epoch_ms(value: Any) -> int | None:
    """Milliseconds, or None when ``value`` is no timestamp (booleans, NaN, words...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = as_number(value)
        if isinstance(value, str):
            return from_text(value)
    if isinstance(value, int):
        return _from_int(value) if -INT64_LIMIT < value < INT64_LIMIT else None
    if isinstance(value, float):
        return _from_float(value)
    return None


def as_number(text: str) -> int | float | str:
    """A numeric string as its number (exact for integers); any other string as it is."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _from_int(v: int) -> int:
    mag = abs(v)
    if mag < SECONDS_BELOW:
        return v * 1000
    if mag < MILLIS_BELOW:
        return v
    return v // 1000 if mag < MICROS_BELOW else v // 1_000_000


def _from_float(v: float) -> int | None:
    if not math.isfinite(v):
        return None
    mag = abs(v)
    scale = 1e6 if mag < SECONDS_BELOW else 1e3 if mag < MILLIS_BELOW else \
        1.0 if mag < MICROS_BELOW else 1e-3
    micros = round(v * scale)  # to the microsecond first: binary noise never loses a ms
    return micros // 1000 if abs(micros) < 2.0**62 else None


def from_text(text: str) -> int | None:
    """ISO-8601 / RFC 3339 (no zone: UTC) or an HTTP date; None for anything else."""
    s = text.strip()
    try:
        dt = datetime.fromisoformat(s.upper())
    except ValueError:
        try:
            dt = email.utils.parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
