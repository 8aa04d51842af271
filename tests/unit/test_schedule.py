"""Schedule expressions as EventBridge reads them."""

from __future__ import annotations

import pytest

from localcloud.runtime.schedule import ScheduleError, cron_to_croniter, rate_seconds


@pytest.mark.parametrize(("expr", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200),
    ("rate(1 day)", 86400), ("cron(0 12 * * ? *)", None)])
def test_rate_seconds(expr: str, seconds: int | None) -> None:
    assert rate_seconds(expr) == seconds


def test_zero_rate_is_refused() -> None:
    with pytest.raises(ScheduleError, match="positive"):
        rate_seconds("rate(0 minutes)")


@pytest.mark.parametrize(("expr", "expected"), [
    ("cron(0 12 * * ? *)", "0 12 * * *"),
    ("cron(15 10 ? * 6 *)", "15 10 * * 5"),  # AWS 6 = Friday; cron 5 = Friday
    ("cron(0/5 8-17 ? * MON-FRI *)", "0/5 8-17 * * MON-FRI"),
    ("cron(0 0 1 * ? 2027)", "0 0 1 * *"),
])
def test_aws_cron_to_croniter(expr: str, expected: str) -> None:
    assert cron_to_croniter(expr) == expected


@pytest.mark.parametrize("expr", ["cron(0 12 * *)", "every minute", "cron(99 12 * * ? *)"])
def test_bad_expressions_are_refused(expr: str) -> None:
    with pytest.raises(ScheduleError):
        cron_to_croniter(expr)
