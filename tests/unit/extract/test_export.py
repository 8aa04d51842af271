"""Asynchronous exports against a fake API (httpx.MockTransport): the job's id is yielded
(to be checkpointed) before any poll, a saved job is polled again rather than started anew,
a saved job that is over is replaced, one this fetcher started that fails is an error, and
the file (gzip CSV) is decoded by the stream's decoder; a pre-signed URL elsewhere is fetched
without the API's credentials."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import pytest

from tributary.extract import export
from tributary.extract.checkpoints import Partition
from tributary.extract.export import ExportStream
from tributary.extract.http import ApiError, RateLimitedClient
from tributary.extract.stream import fetcher_for
from tributary.sources.spec import Source

BASE = "https://api.example.com"
FILE = gzip.compress(b"id,amount\n1,10\n2,\n")


def _source(url: str = "/exports/{job}/file") -> Source:
    return Source.model_validate({"name": "shop", "base_url": BASE, "streams": [{
        "name": "payments", "endpoint": "/exports", "method": "POST",
        "body": {"type": "payments"}, "records_path": "", "primary_key": "id",
        "pagination": {"style": "single"}, "table": "payments",
        "decoder": {"format": "csv"}, "columns": {"id": {}, "amount": {"type": "bigint"}},
        "export": {"poll": {"endpoint": "/exports/{job_id}", "status_path": "status",
                            "every_s": 0.01, "timeout_s": 60},
                   "download": {"url_path": "file"}}}]})


class Api:
    def __init__(self, statuses: list[str], file_url: str = "/exports/{job}/file") -> None:
        self.statuses = statuses  # what each poll answers, the last one repeated
        self.file_url = file_url
        self.created: list[Any] = []
        self.polls = 0
        self.auth_seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.auth_seen.append(request.headers.get("authorization"))
        if request.method == "POST":
            self.created.append(json.loads(request.content))
            return httpx.Response(202, json={"id": f"j{len(self.created)}"})
        if request.url.path.endswith("/file") or request.url.host != "api.example.com":
            return httpx.Response(200, content=FILE)
        job = request.url.path.rsplit("/", 1)[-1]
        status = self.statuses[min(self.polls, len(self.statuses) - 1)]
        self.polls += 1
        return httpx.Response(200, json={"status": status,
                                         "file": self.file_url.format(job=job)})


def _stream(api: Api) -> ExportStream:
    source = _source()
    client = RateLimitedClient(BASE, {"Authorization": "Bearer t"}, 5,
                               transport=httpx.MockTransport(api))
    fetcher = fetcher_for(source, source.streams[0], client)
    assert isinstance(fetcher, ExportStream)
    return fetcher


def _walk(stream: ExportStream, cursor: str | None = None) -> list[Any]:
    p = Partition("shop", "payments", "all", "single", cursor=cursor)
    return list(stream.pages(p))


def test_the_job_is_checkpointed_first_then_polled_then_its_file_read() -> None:
    api = Api(["queued", "running", "completed"])
    pages = _walk(_stream(api))
    assert pages[0].records == 0 and pages[0].next_position.startswith("job:j1:")
    assert [p.next_position == pages[0].next_position for p in pages[1:-1]] == [True, True]
    last = pages[-1]
    assert last.next_position is None and last.records == 2 and last.body == FILE
    assert api.created == [{"type": "payments"}]


def test_a_saved_job_is_polled_again_not_started_anew() -> None:
    api = Api(["completed"])
    pages = _walk(_stream(api), cursor=f"job:j7:{int(time.time())}")
    assert api.created == [] and pages[-1].records == 2


def test_a_saved_job_that_failed_is_replaced_and_a_new_one_that_fails_is_an_error() -> None:
    api = Api(["failed"])
    with pytest.raises(ApiError, match="export job j1 ended as 'failed'"):
        _walk(_stream(api), cursor=f"job:j7:{int(time.time())}")
    assert len(api.created) == 1  # the saved job replaced once; the new one's failure raised
    old = Api(["running", "completed"])
    pages = _walk(_stream(old), cursor="job:j7:1000")  # started long past timeout_s
    assert len(old.created) == 1 and pages[-1].records == 2


def test_a_presigned_url_elsewhere_gets_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """And it is retried as the API's own requests are: a 503 there is not the pass's end."""
    api = Api(["completed"], file_url="https://files.example.net/{job}.csv.gz")
    stream = _stream(api)
    calls: list[httpx.Request] = []

    def elsewhere(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503 if len(calls) == 1 else 200, content=FILE)

    original = export.RateLimitedClient

    def bare(base_url: str, headers: dict[str, str], timeout_s: float) -> Any:
        return original(base_url, headers, timeout_s, transport=httpx.MockTransport(elsewhere))

    monkeypatch.setattr(export, "RateLimitedClient", bare)
    monkeypatch.setattr("tributary.extract.http.time.sleep", lambda s: None)  # the backoff
    pages = _walk(stream)
    assert pages[-1].records == 2
    assert [str(c.url) for c in calls] == ["https://files.example.net/j1.csv.gz"] * 2
    assert not [c for c in calls if "authorization" in c.headers]
