"""What a failing stream's checkpoint says, and what the verdicts make of it: which errors
retrying cannot fix, how long a 429 asks to wait, which failure a stream shows, and when a
stream with failures counts as settled."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from tributary.control.progress import StreamProgress
from tributary.extract.checkpoints import Failure, Partition, StreamState
from tributary.extract.http import ApiError, CursorExpired, permanent, retry_after_s


@pytest.mark.parametrize(("exc", "expected"), [
    (ApiError(200, "NO_RECORDS", "no record list at 'result.entries'"), True),
    (ApiError(404, "", "not found"), True),
    (ApiError(401, "", "token refused after renewal"), True),
    (ApiError(0, "FOREIGN_LINK", "a link to another origin"), True),
    (ApiError(408, "", "request timeout"), False),
    (ApiError(429, "", "slow down"), False),
    (ApiError(0, "UNAVAILABLE", "gave up after 8 attempts: 503"), False),
    (ApiError(503, "RETRY_AFTER_TOO_LONG", "the API asked to wait 3600 s"), False),
    (ApiError(429, "BUDGET_SPENT", "the API's request budget is spent until it resets"), False),
    (CursorExpired(400, "CURSOR_EXPIRED", "expired"), True),
    (ConnectionError("the emulator went away"), False),
])
def test_only_what_retrying_cannot_fix_is_permanent(exc: Exception, expected: bool) -> None:
    assert permanent(exc) is expected


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("2.5") == 2.5
    assert 8.0 < retry_after_s(formatdate(time.time() + 10, usegmt=True)) <= 10.0
    assert retry_after_s(formatdate(time.time() - 60, usegmt=True)) == 0.0  # already past
    assert retry_after_s("soon") == 1.0 and retry_after_s(None) == 1.0
    assert retry_after_s("") == 1.0 and retry_after_s("inf") == 1.0 and retry_after_s("-3") == 0.0


def _part(name: str, status: str = "pending", error: str | None = None, since: float = 0.0,
          finished_at: float = 0.0) -> Partition:
    return Partition("s", "t", name, "cursor", status=status, error=error, error_since=since,
                     failed_at=since, attempts=1 if error else 0, finished_at=finished_at)


def test_a_stream_shows_its_given_up_partition_first() -> None:
    state = StreamState(partitions=[
        _part("a", error="HTTP 0 UNAVAILABLE: 503", since=100.0),
        _part("b", status="failed", error="HTTP 403 : forbidden", since=200.0),
        _part("c", status="done", finished_at=50.0)])
    failure = state.failure
    assert failure is not None and failure.error == "HTTP 403 : forbidden" and failure.final


def test_a_planning_error_counts_until_a_pass_ends_after_it() -> None:
    meta = {"error": "UNREADABLE_TIMESTAMP", "error_at": 100.0}
    assert StreamState(meta, [_part("a", status="done", finished_at=90.0)]).failure == \
        Failure("UNREADABLE_TIMESTAMP", 100.0, 100.0, 1, True)
    assert StreamState(meta, [_part("a", status="done", finished_at=110.0)]).failure is None


def _progress(failure: Failure | None, **figures: int) -> StreamProgress:
    base = {"partitions": 2, "partitions_done": 1, "pages_landed": 3, "pages_loaded": 3}
    return StreamProgress("s/t", failure=failure, **(base | figures))


def test_a_partition_given_up_on_settles_its_stream_as_failed() -> None:
    given_up = Failure("HTTP 404 : gone", 1.0, 1.0, 1, True)
    sp = _progress(given_up, partitions_failed=1)
    assert sp.settled and sp.failed and not sp.done
    # Still being retried: not settled, not failed.
    retrying = _progress(Failure("HTTP 0 UNAVAILABLE", 1.0, 1.0, 1, False))
    assert not retrying.settled and not retrying.failed


def test_a_dead_lettered_page_counts_as_settled_but_failed() -> None:
    dead = Failure("loading a page: UndefinedColumn", 1.0, 2.0, 5, True)
    sp = _progress(dead, partitions_done=2, pages_loaded=2, pages_failed=1)
    assert sp.settled and sp.failed
    assert not _progress(None, partitions_done=2, pages_loaded=2).settled  # a page missing
