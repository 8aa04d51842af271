"""Request signatures: valid ones pass; wrong, stale, malformed or missing ones are refused."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tributary.webhook.signature import BadSignature, sign, verify

BODY = b'{"events": []}'


def test_a_fresh_correct_signature_passes() -> None:
    verify("s3cret", BODY, sign("s3cret", BODY), tolerance_s=300)


# Signed when the test runs, not when it is collected: a long suite must not make them stale.
@pytest.mark.parametrize(("make", "message"), [
    (lambda: None, "missing"),
    (lambda: "garbage", "malformed"),
    (lambda: sign("other", BODY), "does not match"),
    (lambda: sign("s3cret", BODY + b" "), "does not match"),
    (lambda: sign("s3cret", BODY, time.time() - 301), "stale"),
], ids=["missing", "malformed", "other secret", "other body", "stale"])
def test_bad_signatures_are_refused(make: Callable[[], str | None], message: str) -> None:
    header = make()
    with pytest.raises(BadSignature, match=message):
        verify("s3cret", BODY, header, tolerance_s=300)
