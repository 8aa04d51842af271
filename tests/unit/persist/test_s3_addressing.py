"""The S3 mirror finds the bucket and key of path-style and virtual-hosted requests alike."""

from __future__ import annotations

import pytest

from localcloud.persist.s3 import bucket_and_key


@pytest.mark.parametrize(("host", "path", "expected"), [
    ("127.0.0.1:4566", "/tributary-raw/a/b%20c.json?x=1", ("tributary-raw", "a/b c.json")),
    ("localhost:4566", "/tributary-lake/events/_delta_log/0.json", ("tributary-lake",
                                                                    "events/_delta_log/0.json")),
    ("[::1]:4566", "/bk/k", ("bk", "k")),
    ("s3.localhost.localstack.cloud:4566", "/bk/k", ("bk", "k")),
    ("tributary-raw.localhost:4566", "/a/b.json", ("tributary-raw", "a/b.json")),
    ("tributary-raw.s3.localhost.localstack.cloud:4566", "/a", ("tributary-raw", "a")),
    ("127.0.0.1:4566", "/tributary-raw", ("tributary-raw", "")),
])
def test_bucket_and_key(host: str, path: str, expected: tuple[str, str]) -> None:
    assert bucket_and_key(host, path) == expected
