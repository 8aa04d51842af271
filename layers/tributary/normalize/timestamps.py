"""Timestamps in any standard form, as UTC epoch milliseconds, vectorized.

Read, and all normalized to the same UTC millisecond (extra precision is truncated, floor):
- ISO-8601 / RFC 3339: 0-9 fractional digits; ``Z``/``z``, ``±HH:MM``, ``±HHMM``, ``±HH``;
  ``T``/``t`` or a space between date and time; date only (midnight); no zone at all is read
  as UTC (the only reading that does not depend on the machine);
- epoch numbers, as numbers or numeric strings, told apart by magnitude: below 1e11 seconds,
  below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Every instant from
  1973-03-03 to the year 5138 has one reading in each unit (1e11 s and 1e14 ms are both the
  year 5138; 1e11 ms, 1e14 us and 1e17 ns are all 1973-03-03). Negative numbers are before
  1970, with the same magnitudes. Floats are rounded to the microsecond before the floor, so
  binary noise (``1790812800.123`` is ``...122999...`` in binary) never loses a millisecond;
- HTTP dates (RFC 7231: IMF-fixdate, RFC 850, asctime), as in ``Date`` or ``Last-Modified``.
Anything else (booleans, NaN, infinities, words, impossible dates) is unreadable: the mask says
so, and the caller rejects the record naming the field.

The common case, a page of ISO strings with a zone, is one pyarrow cast; numbers are numpy.
Only a page with other string forms goes through the standard library, value by value. One
value at a time, without numpy or pyarrow (the fetch function has neither), is ``epoch.py``:
the same rules, and a property test holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tributary.normalize.epoch import (
    INT64_LIMIT,
    MICROS_BELOW,
    MILLIS_BELOW,
    SECONDS_BELOW,
    as_number,
    from_text,
    one_epoch_ms,
)

_NS = pa.timestamp("ns", tz="UTC")


def to_epoch_ms(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(ms, ok)``: int64 milliseconds and a mask of the values that could be read."""
    n = len(values)
    ms = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    int_idx: list[int] = []
    ints: list[int] = []
    float_idx: list[int] = []
    floats: list[float] = []
    str_idx: list[int] = []
    strings: list[str] = []
    for i, v in enumerate(values):
        if isinstance(v, bool):
            continue
        # Cheap: ISO strings go on as strings. ASCII only: '¹' is a digit that int() refuses.
        if isinstance(v, str) and v.isascii() and v.isdigit():
            v = int(v)
        if isinstance(v, int):
            if -INT64_LIMIT < v < INT64_LIMIT:
                int_idx.append(i)
                ints.append(v)
        elif isinstance(v, float):
            float_idx.append(i)
            floats.append(v)
        elif isinstance(v, str):
            str_idx.append(i)
            strings.append(v)
    if ints:
        _place(ms, ok, int_idx, _ints_to_ms(np.asarray(ints, dtype=np.int64)))
    if floats:
        _place(ms, ok, float_idx, _floats_to_ms(np.asarray(floats, dtype=np.float64)))
    if strings:
        _place(ms, ok, str_idx, _strings_to_ms(strings))
    return ms, ok


def _place(ms: np.ndarray, ok: np.ndarray, idx: list[int],
           parsed: tuple[np.ndarray, np.ndarray]) -> None:
    values, good = parsed
    where = np.asarray(idx)[good]
    ms[where] = values[good]
    ok[where] = True


def _ints_to_ms(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(v)
    # Integer bounds: against a float bound, numpy compares in float64, and an integer just
    # below 1e17 rounds up to it (read as nanoseconds, not microseconds).
    out = np.where(mag < int(SECONDS_BELOW), v * 1000,
                   np.where(mag < int(MILLIS_BELOW), v,
                            np.where(mag < int(MICROS_BELOW), v // 1000, v // 1_000_000)))
    return out, np.ones(len(v), dtype=bool)


def _floats_to_ms(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    good = np.isfinite(v)
    mag = np.abs(np.where(good, v, 0.0))
    scale = np.where(mag < SECONDS_BELOW, 1e6, np.where(
        mag < MILLIS_BELOW, 1e3, np.where(mag < MICROS_BELOW, 1.0, 1e-3)))
    micros = np.round(np.where(good, v, 0.0) * scale)
    good &= np.abs(micros) < 2.0**62
    return np.floor_divide(np.where(good, micros, 0.0), 1000).astype(np.int64), good


def _strings_to_ms(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One pyarrow cast when every string is ISO-8601 with a zone (the usual page); else
    each string through the standard library."""
    try:
        cast = pc.cast(pc.utf8_upper(pa.array(strings, pa.string())), _NS)
        ns = np.asarray(cast.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.floor_divide(ns, 1_000_000), np.ones(len(strings), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.zeros(len(strings), dtype=np.int64)
    good = np.zeros(len(strings), dtype=bool)
    for i, s in enumerate(strings):
        number = as_number(s)
        parsed = from_text(s) if isinstance(number, str) else one_epoch_ms(number)
        if parsed is not None:
            out[i], good[i] = parsed, True
    return out, good


