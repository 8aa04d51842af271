"""Every timestamp form DataSync sends is the same instant once normalized."""

from __future__ import annotations

import numpy as np

from tributary.normalize.timestamps import one_epoch_ms, to_epoch_ms

INSTANT = 1_790_812_800_123  # 2026-10-01T00:00:00.123Z


def test_every_variant_normalizes_to_the_same_instant() -> None:
    variants = [INSTANT, INSTANT / 1000, str(INSTANT), f"{INSTANT / 1000:.3f}",
                "2026-10-01T00:00:00.123Z", "2026-10-01T02:00:00.123+02:00",
                "2026-09-30T19:00:00.123-05:00", "2026-10-01T05:30:00.123+05:30"]
    ms, ok = to_epoch_ms(variants)
    assert ok.all()
    assert (ms == INSTANT).all()


def test_unreadable_values_are_flagged_not_guessed() -> None:
    ms, ok = to_epoch_ms(["yesterday", None, True, -5, float("nan"), "2026-13-45T00:00:00Z",
                          INSTANT])
    assert ok.tolist() == [False] * 6 + [True]
    assert ms[-1] == INSTANT
    assert one_epoch_ms("nope") is None


def test_large_arrays_stay_vectorized() -> None:
    values = list(range(INSTANT, INSTANT + 50_000))
    ms, ok = to_epoch_ms(values)
    assert ok.all() and np.array_equal(ms, np.arange(INSTANT, INSTANT + 50_000))
