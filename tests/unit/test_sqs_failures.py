"""Which records go back to the queue after an invocation (Lambda's documented rules)."""

from __future__ import annotations

import orjson

from localcloud.runtime.pool import InvokeResult
from localcloud.runtime.sqs import failed_message_ids

BATCH = {"a", "b", "c"}


def _ok(payload: object) -> InvokeResult:
    return InvokeResult(orjson.dumps(payload), None, 1.0, False, "r")


def test_function_error_returns_whole_batch() -> None:
    result = InvokeResult(b'{"errorMessage":"x"}', "Unhandled", 1.0, False, "r")
    assert failed_message_ids(result, BATCH, partial=True) == BATCH


def test_success_deletes_everything() -> None:
    assert failed_message_ids(_ok({"batchItemFailures": []}), BATCH, partial=True) == set()
    assert failed_message_ids(_ok(None), BATCH, partial=True) == set()


def test_reported_failures_are_the_only_ones_returned() -> None:
    result = _ok({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert failed_message_ids(result, BATCH, partial=True) == {"b"}


def test_failures_are_ignored_without_report_batch_item_failures() -> None:
    result = _ok({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert failed_message_ids(result, BATCH, partial=False) == set()


def test_malformed_or_unknown_identifier_fails_whole_batch() -> None:
    for bad in ([{"itemIdentifier": "zzz"}], [{"itemIdentifier": ""}], [{}], ["b"]):
        assert failed_message_ids(_ok({"batchItemFailures": bad}), BATCH, True) == BATCH
