"""Acknowledged means on disk: power cuts under load lose nothing the emulator acknowledged,
and the same harness catches the loss when fsync is turned off (so it is known to bite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.powercut.harness import run

pytestmark = pytest.mark.needs("fusermount3")
PORT = 4940


def test_power_cuts_under_load_lose_nothing_acknowledged(tmp_path: Path) -> None:
    report = run(tmp_path, PORT, rounds=12, budget_s=75, seed=25)
    print(f"{report.rounds} power cuts, {report.acknowledged} acknowledged writes kept")
    assert report.problems == [], "\n".join(report.problems[:20])
    assert report.rounds >= 4 and report.acknowledged > 500, report


def test_without_fsync_the_same_harness_finds_the_loss(tmp_path: Path) -> None:
    report = run(tmp_path, PORT + 1, rounds=3, budget_s=60, sync=False, seed=25)
    print(f"without fsync, after {report.rounds} power cuts: {report.problems[:3]}")
    assert report.problems, f"no loss found without fsync in {report.rounds} power cuts"
