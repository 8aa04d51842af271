"""Request signatures: valid ones pass; wrong, stale, malformed or missing ones are refused."""

from __future__ import annotations

import time

import pytest

from tributary.webhook.signature import BadSignature, sign, verify

BODY = b'{"events": []}'


def test_a_fresh_correct_signature_passes() -> None:
    verify("s3cret", BODY, sign("s3cret", BODY), tolerance_s=300)


@pytest.mark.parametrize(("header", "message"), [
    (None, "missing"),
    ("garbage", "malformed"),
    (sign("other", BODY), "does not match"),
    (sign("s3cret", BODY + b" "), "does not match"),
    (sign("s3cret", BODY, time.time() - 301), "stale"),
])
def test_bad_signatures_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(BadSignature, match=message):
        verify("s3cret", BODY, header, tolerance_s=300)
