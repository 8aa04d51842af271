"""Fetching one declared stream: planning its partitions and walking its pages.

``StreamFetcher`` is the interface the fetch function drives; ``DeclaredStream`` implements
it for any stream from its declaration alone. A stream whose API needs more (DataSync's bulk
feed) names a subclass in its declaration's ``fetcher`` hook.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson

from tributary.extract.auth import auth_for
from tributary.extract.checkpoints import Checkpoints, Partition, StreamState
from tributary.extract.http import ApiError, CursorExpired, RateLimitedClient
from tributary.extract.paginators import NO_HEADERS, paginator_for
from tributary.gcpause import paused_gc
from tributary.log import get_logger
from tributary.sources.auth import Auth
from tributary.sources.decoders import UndecodableBody, decode
from tributary.sources.keys import record_id
from tributary.sources.paths import NotRecords, dig
from tributary.sources.spec import CursorPagination, Source, Stream

log = get_logger("extract.stream")


@dataclass(frozen=True)
class Page:
    body: bytes  # exactly what the API sent
    records: int
    position: str | None  # where this page was asked for
    next_position: str | None  # None: the pass ends with this page
    last_ts: int | None = None  # time-range feeds resume from here
    first_id: str | None = None
    ids: frozenset[str] = frozenset()  # newest-first listings stop at a known id
    etag: str | None = None
    not_modified: bool = False  # a 304: nothing to land
    total: int | None = None  # the upstream's count, when the page says
    top: str | None = None  # incremental by parameter: the highest cursor value in the page
    skipped: str | None = None  # a response action ended the partition: what it said


class StreamFetcher(Protocol):
    source: Source
    stream: Stream

    @property
    def incremental(self) -> str: ...

    def plan(self, store: Checkpoints, state: StreamState, force: bool) -> list[Partition]:
        """Open the passes that are due. ``state`` is the stream's checkpoints as the caller
        read them; what planning adds or reopens is updated in it. Returns the due
        partitions left closed because a conditional request can tell whether anything
        changed: the caller probes them and reopens one only when it did."""
        ...

    def pages(self, p: Partition) -> Iterator[Page]: ...


class DeclaredStream:
    def __init__(self, source: Source, stream: Stream, client: RateLimitedClient) -> None:
        self.source = source
        self.stream = stream
        self.client = client
        self.paginator = paginator_for(stream.pagination)

    @property
    def incremental(self) -> str:
        spec = self.stream.pagination
        if self.stream.incremental is not None:
            return "param"
        return spec.incremental if isinstance(spec, CursorPagination) else "full"

    def plan(self, store: Checkpoints, state: StreamState, force: bool) -> list[Partition]:
        """A first partition (a child's come from its parent's records), or the next pass of
        a finished one once it is due: reopened, or probed first when it has a version."""
        if self.stream.parent is None:
            listed = self.listed()
            have = {p.name for p in state.partitions}
            for part in listed:
                if part.name not in have:
                    store.add(part)
                    state.partitions.append(part)
            if self.stream.partitions:  # a value no longer declared is no longer fetched
                names = {part.name for part in listed}
                state.partitions[:] = [p for p in state.partitions if p.name in names]
            if not have:
                return []
        due = time.time() - self.source.interval(self.stream)
        probes = []
        for p in state.partitions:
            if p.status != "done" or not (force or p.finished_at <= due):
                continue
            if self.paginator.conditional and p.etag:
                probes.append(p)
            else:
                store.reopen(p, keep_cursor=self.incremental == "resume")
        return probes

    def listed(self) -> list[Partition]:
        """A stream without a parent: one partition, or one per declared value."""
        style, spec = self.stream.pagination.style, self.stream.partitions
        if spec is None:
            return [Partition(self.source.name, self.stream.name, "all", style)]
        return [Partition(self.source.name, self.stream.name, f"{spec.param}={value}", style,
                          extra={"params": {spec.param: value}} | (
                              {"include": {spec.include_as: value}} if spec.include_as else {}))
                for value in spec.value_list]

    def request_parts(self, p: Partition) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """The partition's endpoint, query and body (a POST's), before any paging: its
        parent's or listed value, and its incremental bound, where they go."""
        values = p.extra.get("params", {})
        endpoint = self.stream.endpoint.format(**values)
        query: dict[str, Any] = dict(self.stream.params)
        body = copy.deepcopy(self.stream.body or {}) if self.stream.method == "POST" else None
        listed, inc = self.stream.partitions, self.stream.incremental
        if listed and "{" + listed.param + "}" not in self.stream.endpoint:
            _put(query, body, listed.send_in, listed.param, values[listed.param])
        for name, value in self._since(p).items():
            _put(query, body, inc.send_in if inc else "query", name, value)
        return endpoint, query, body

    def pages(self, p: Partition) -> Iterator[Page]:
        position = p.cursor
        endpoint, query, body = self.request_parts(p)
        spec = self.stream.pagination
        while True:
            headers = ({"If-None-Match": p.etag} if self.paginator.conditional and p.etag
                       else None)
            sent = copy.deepcopy(body)
            if spec.send_in == "body":
                path, params = endpoint, query
                for name, value in self.paginator.params(position).items():
                    _put(query, sent, "body", name, value)
            else:
                path, params = self.paginator.target(endpoint, query, position)
            try:
                resp = self.client.request(self.stream.method, self.client.same_origin(path),
                                           self.stream.name, headers=headers, params=params,
                                           json=sent, failed=self._errors)
            except CursorExpired:
                # A listing cannot resume from a position: start again from the top; pages
                # already landed are absorbed by the upserts.
                log.info("cursor expired; restarting listing", extra={"stream": p.stream})
                position = None
                continue
            except ApiError as exc:
                action = self.stream.response_actions.get(exc.status)
                if action is None:
                    raise
                log.info("response action", extra={"stream": p.stream, "partition": p.name,
                                                   "status": exc.status, "action": action})
                yield Page(b"", 0, position, None, skipped=action)
                return
            if resp.status_code == 304:
                yield Page(b"", 0, position, None, etag=p.etag, not_modified=True)
                return
            page = self.page(resp.content, position, resp.headers.get("etag"), resp.headers)
            if page.next_position is not None and page.next_position == position:
                raise ApiError(200, "PAGE_LOOP", f"{self.source.name}/{self.stream.name}: the "
                               f"next page is this page again ({position})")
            yield page
            if page.next_position is None or (p.high_water and p.high_water in page.ids):
                return
            position = page.next_position

    def _errors(self, resp: httpx.Response) -> str | None:
        """What a 200 says went wrong at ``error_path`` (GraphQL's ``errors``), if anything:
        the client tries it again as it does a 5xx, and nothing of it lands."""
        if not self.stream.error_path:
            return None
        try:
            errors = dig(orjson.loads(resp.content), self.stream.error_path)
        except orjson.JSONDecodeError:
            return None  # not JSON: the page's own reading says so
        return orjson.dumps(errors).decode()[:500] if errors else None

    def _since(self, p: Partition) -> dict[str, str]:
        """An incremental stream's bounds: from the highest value the passes before saw
        (less the lookback)."""
        inc = self.stream.incremental
        if inc is None:
            return {}
        back = inc.lookback_s
        if inc.bound == "exclusive" and inc.format != "text":  # one unit under the edge
            back = max(back, 0.001 if inc.format == "epoch_ms" else 1.0)
        start = inc.initial_value if p.high_water is None else \
            shifted(p.high_water, -back, inc.format)
        out = {inc.param: start}
        if inc.end_param and inc.end_value:
            out[inc.end_param] = inc.end_value
        return out

    def page(self, raw: bytes, position: str | None, etag: str | None,
             headers: Mapping[str, str] = NO_HEADERS) -> Page:
        try:
            with paused_gc():
                body = decode(raw, self.stream.decoder)
        except UndecodableBody as exc:
            raise ApiError(200, "UNDECODABLE", f"{self.source.name}/{self.stream.name}: "
                           f"{exc}") from None
        try:
            records = self.stream.records.select(body)
        except NotRecords as exc:
            raise ApiError(200, "NOT_RECORDS", f"{self.source.name}/{self.stream.name}: "
                           f"{exc}") from None
        if records is None:
            raise ApiError(200, "NO_RECORDS", f"{self.source.name}/{self.stream.name}: no "
                           f"record list at {self.stream.records_path!r}")
        key = self.stream.primary_key
        ids = frozenset(str(record_id(r, key)) for r in records) \
            if self.incremental == "high_water" else frozenset()
        first = record_id(records[0], key) if records else None
        total = dig(body, self.stream.total_path) if self.stream.total_path else None
        if total is None and self.stream.pagination.one_response:
            total = len(records)
        return Page(raw, len(records), position,
                    self.paginator.next_position(body, position, len(records), headers,
                                                 records[-1] if records else None),
                    first_id=first, ids=ids, etag=etag,
                    total=None if total is None else int(total), top=self._top(records))

    def _top(self, records: list[Any]) -> str | None:
        inc = self.stream.incremental
        if inc is None:
            return None
        values = [v for r in records if isinstance(r, dict)
                  and (v := dig(r, inc.cursor_path)) is not None]
        return str(max(values, key=_order)) if values else None


def _order(value: Any) -> tuple[int, float, str]:
    """Numbers by value, anything else (ISO timestamps) as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _put(query: dict[str, Any], body: dict[str, Any] | None, where: str, name: str,
         value: Any) -> None:
    """A request parameter into the query string, or at a dotted path of the JSON body."""
    if where == "query" or body is None:
        query[name] = value
        return
    *parents, leaf = name.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def shifted(value: str, seconds: float, fmt: str) -> str:
    """A cursor value moved by ``seconds``, written as it was read."""
    if not seconds or fmt == "text":
        return value
    if fmt in ("epoch_s", "epoch_ms"):
        number = float(value) + seconds * (1000 if fmt == "epoch_ms" else 1)
        return str(int(number)) if number == int(number) else str(number)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


def newer(a: str | None, b: str | None) -> str | None:
    """The later of two cursor values (either may be missing)."""
    if a is None or b is None:
        return a or b
    def num(v: str) -> Any:
        try:
            return float(v)
        except ValueError:
            return v
    return max(a, b, key=lambda v: _order(num(v)))


def client_for(source: Source) -> RateLimitedClient:
    # One auth object per distinct declared auth: a stream declaring the source's (or another
    # stream's) shares its token, and an OAuth2 refresh token, one credential, is refreshed
    # and rotated in one place.
    made: list[tuple[Auth, httpx.Auth | None]] = []

    def auth(spec: Auth, owner: str) -> httpx.Auth | None:
        for known, built in made:
            if known == spec:
                return built
        made.append((spec, auth_for(spec, source.base_url, owner=owner)))
        return made[-1][1]

    client = RateLimitedClient(source.base_url, {}, source.timeout_s,
                               auth=auth(source.auth, source.name))
    for s in source.streams:
        client.budgets[s.name] = s.endpoint  # /users/{id}/orders: one budget for all users
        limit = s.rate_limit or source.rate_limit
        if limit:
            client.pacer(s.endpoint).declare(limit.requests, limit.per_s)
        if s.auth is not None:  # its own, "none" included
            client.auths[s.name] = auth(s.auth, f"{source.name}/{s.name}")
    return client


EXPORT_FETCHER = "tributary.extract.export:ExportStream"


def fetcher_for(source: Source, stream: Stream, client: RateLimitedClient) -> StreamFetcher:
    ref = stream.fetcher or (EXPORT_FETCHER if stream.export else None)
    if ref is None:
        return DeclaredStream(source, stream, client)
    import importlib

    module, _, name = ref.partition(":")
    cls: Any = getattr(importlib.import_module(module), name)
    fetcher: StreamFetcher = cls(source, stream, client)
    return fetcher
