"""Asynchronous exports (report jobs): create, poll until done, download, decode.

The pages an export yields: first one with no records whose next position is the job
(``job:<id>:<created epoch s>``), so the fetch checkpoints the job's id before any poll; then
the downloaded file as the stream's one page. A fetcher killed while the job runs finds the
id in the checkpoint and polls that job again: a job is never started twice for one pass. A
saved job that failed or ran past ``timeout_s`` is replaced by a new one; one this fetcher
started itself that fails is an error, retried after the usual backoff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

from tributary.extract.checkpoints import Partition
from tributary.extract.http import ApiError, RateLimitedClient
from tributary.extract.stream import DeclaredStream, Page
from tributary.log import get_logger
from tributary.sources.paths import dig
from tributary.sources.spec import Export

log = get_logger("extract.export")
JOB = "job:"


class ExportStream(DeclaredStream):
    @property
    def spec(self) -> Export:
        assert self.stream.export is not None
        return self.stream.export

    def pages(self, p: Partition) -> Iterator[Page]:
        position, made = p.cursor, False
        poll = self.spec.poll
        while True:
            if not position or not position.startswith(JOB):
                position, made = f"{JOB}{self._create(p)}:{int(time.time())}", True
                yield Page(b"", 0, None, position)  # checkpointed before the first poll
            job, _, started = position.removeprefix(JOB).rpartition(":")
            answer = self.client.request("GET", poll.endpoint.format(job_id=job),
                                         self.stream.name).json()
            status = str(dig(answer, poll.status_path))
            if status in poll.done:
                url = dig(answer, self.spec.download.url_path)
                if not url:
                    raise ApiError(200, "NO_FILE", f"{self._name}: export job {job} is done "
                                   f"but has no URL at {self.spec.download.url_path!r}")
                yield self.page(self._download(str(url)), position, None)
                return
            over = f"ended as {status!r}" if status in poll.failed else \
                f"still {status!r} after {poll.timeout_s:.0f} s" \
                if time.time() - float(started) > poll.timeout_s else None
            if over and made:
                raise ApiError(0, "EXPORT_FAILED", f"{self._name}: export job {job} {over}")
            if over:
                log.info("saved export job is over; starting another",
                         extra={"stream": self._name, "job": job, "why": over})
                position = None
                continue
            # Still running: a page of nothing at the same position renews the lease (and
            # lets the fetch stop here, near its own timeout or when paused).
            yield Page(b"", 0, position, position)
            time.sleep(poll.every_s)

    @property
    def _name(self) -> str:
        return f"{self.source.name}/{self.stream.name}"

    def _create(self, p: Partition) -> str:
        endpoint, query, body = self.request_parts(p)
        resp = self.client.request(self.stream.method, endpoint, self.stream.name,
                                   params=query, json=body)
        job = dig(resp.json(), self.spec.job_id_path)
        if job in (None, ""):
            raise ApiError(resp.status_code, "NO_JOB", f"{self._name}: the export's answer "
                           f"has no job id at {self.spec.job_id_path!r}")
        log.info("export job started", extra={"stream": self._name, "job": str(job)})
        return str(job)

    def _download(self, url: str) -> bytes:
        """The file: through the API's client on its own origin; elsewhere (a pre-signed
        URL) with a bare client, so the API's credentials never go with it."""
        if self.client.on_origin(url):
            return self.client.request("GET", url, self.stream.name).content
        # Retried as the API's own requests are (5xx, 429, stalls, a cut connection), but
        # by a client of the file's origin that holds no credentials.
        target = httpx.URL(url)
        bare = RateLimitedClient(f"{target.scheme}://{target.netloc.decode()}", {},
                                 self.client.http.timeout.read or 30.0)
        try:
            resp = bare.request("GET", url, "download")
        except ApiError as exc:
            raise ApiError(exc.status, "DOWNLOAD", f"{self._name}: the export file answered "
                           f"{exc.status or exc}") from None
        finally:
            bare.http.close()
        return resp.content
