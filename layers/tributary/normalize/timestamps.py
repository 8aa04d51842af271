"""Timestamps in any of the upstream's forms, as UTC epoch milliseconds, vectorized.

Accepted: epoch milliseconds or seconds (numbers or numeric strings; seconds may carry a
millisecond fraction) and ISO-8601 with ``Z`` or a UTC offset. Numbers below 1e11 are seconds
(1e11 ms is 1973; 1e11 s is the year 5138).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_BELOW = 1e11


def to_epoch_ms(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(ms, ok)``: int64 milliseconds and a mask of the values that could be read."""
    n = len(values)
    ms = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    num_idx, numbers, str_idx, strings = [], [], [], []
    for i, v in enumerate(values):
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            num_idx.append(i)
            numbers.append(float(v))
        elif isinstance(v, str):
            try:
                numbers.append(float(v))
                num_idx.append(i)
            except ValueError:
                str_idx.append(i)
                strings.append(v)
    if numbers:
        arr = np.asarray(numbers, dtype=np.float64)
        finite = np.isfinite(arr) & (arr >= 0)
        scaled = np.where(arr < SECONDS_BELOW, arr * 1000.0, arr)
        idx = np.asarray(num_idx)
        ms[idx[finite]] = np.round(scaled[finite]).astype(np.int64)
        ok[idx[finite]] = True
    if strings:
        parsed = _parse_iso(strings)
        idx = np.asarray(str_idx)
        good = ~np.isnan(parsed)
        ms[idx[good]] = parsed[good].astype(np.int64)
        ok[idx[good]] = True
    return ms, ok


def _parse_iso(strings: list[str]) -> np.ndarray:
    """Milliseconds (float, NaN where unreadable) for ISO-8601 strings."""
    target = pa.timestamp("ms", tz="UTC")
    try:
        arr = pc.cast(pa.array(strings, pa.string()), target)
        return np.asarray(arr.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out = np.full(len(strings), np.nan)  # rare path: find which ones are bad
    for i, s in enumerate(strings):
        try:
            out[i] = pc.cast(pa.array([s], pa.string()), target).cast(pa.int64())[0].as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return out


def one_epoch_ms(value: Any) -> int | None:
    ms, ok = to_epoch_ms([value])
    return int(ms[0]) if ok[0] else None
