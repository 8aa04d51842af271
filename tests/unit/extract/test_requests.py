"""What a declared stream sends and how it walks the answers, against fake APIs
(httpx.MockTransport): POST bodies with paging inside them (GraphQL), a 200 that holds
errors, a fixed list of partitions, and an incremental parameter with a lookback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tributary.extract.checkpoints import Partition
from tributary.extract.http import ApiError, RateLimitedClient
from tributary.extract.stream import DeclaredStream, shifted
from tributary.sources.spec import Source

BASE = "https://api.example.com"
GRAPHQL = {
    "name": "invoices", "endpoint": "/graphql", "method": "POST",
    "body": {"query": "query($first: Int!, $after: String) { invoices { ... } }",
             "variables": {"region": "eu"}},
    "error_path": "errors", "records_path": "data.invoices.nodes", "primary_key": "id",
    "pagination": {"style": "cursor", "send_in": "body", "cursor_param": "variables.after",
                   "limit_param": "variables.first", "limit": 2,
                   "next_cursor_path": "data.invoices.pageInfo.endCursor",
                   "has_more_path": "data.invoices.pageInfo.hasNextPage"},
    "table": "invoices", "columns": {"id": {}}}


def _source(**stream: Any) -> Source:
    return Source.model_validate({"name": "shop", "base_url": BASE, "streams": [stream]})


def _stream(source: Source, handler: Any) -> DeclaredStream:
    client = RateLimitedClient(BASE, {}, 5, max_attempts=3,
                               transport=httpx.MockTransport(handler))
    return DeclaredStream(source, source.streams[0], client)


def test_graphql_pages_travel_in_the_body_and_errors_in_a_200_are_retried() -> None:
    seen: list[dict[str, Any]] = []
    nodes = [{"id": f"inv_{i}"} for i in range(5)]

    def api(request: httpx.Request) -> httpx.Response:
        ask = json.loads(request.content)
        seen.append(ask)
        if len(seen) == 2:  # throttled, GraphQL-style: a 200 that failed
            return httpx.Response(200, json={"data": None, "errors": [{"message": "slow"}]})
        after = int(ask["variables"].get("after") or 0)
        rows = nodes[after:after + ask["variables"]["first"]]
        end = after + len(rows)
        return httpx.Response(200, json={"data": {"invoices": {
            "nodes": rows, "pageInfo": {"endCursor": str(end), "hasNextPage": end < 5}}}})

    stream = _stream(_source(**GRAPHQL), api)
    pages = list(stream.pages(Partition("shop", "invoices", "all", "cursor")))
    assert [p.records for p in pages] == [2, 2, 1]
    assert all(s["query"] == GRAPHQL["body"]["query"] for s in seen)
    assert [s["variables"] for s in seen] == [
        {"region": "eu", "first": 2}, {"region": "eu", "first": 2, "after": "2"},
        {"region": "eu", "first": 2, "after": "2"}, {"region": "eu", "first": 2, "after": "4"}]
    assert stream.client.stats.server_errors == 1


def test_a_200_that_always_holds_errors_fails_the_page_with_them() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errors": [{"message": "field 'invoices' unknown"}]})

    stream = _stream(_source(**GRAPHQL), api)
    with pytest.raises(ApiError, match="field 'invoices' unknown"):
        list(stream.pages(Partition("shop", "invoices", "all", "cursor")))


def test_paging_in_the_body_needs_a_post() -> None:
    with pytest.raises(ValidationError, match="need method: POST"):
        _source(**(GRAPHQL | {"method": "GET", "body": None}))
    with pytest.raises(ValidationError, match="cannot send its parameters in a body"):
        _source(**(GRAPHQL | {"pagination": {"style": "header_link", "send_in": "body"}}))


def test_each_listed_value_is_a_partition_sent_in_the_path_or_the_query() -> None:
    asked: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json=[{"id": 1}])

    base = {"name": "members", "records_path": "", "primary_key": "id",
            "pagination": {"style": "single"}, "table": "members", "columns": {"id": {}}}
    in_path = _stream(_source(**base, endpoint="/orgs/{org}/members",
                              partitions={"param": "org", "values": " acme, globex "}), api)
    parts = in_path.listed()
    assert [p.name for p in parts] == ["org=acme", "org=globex"]
    in_query = _stream(_source(**base, endpoint="/members",
                               partitions={"param": "org", "values": ["acme"],
                                           "include_as": "org"}), api)
    (only,) = in_query.listed()
    assert only.extra["include"] == {"org": "acme"}  # each record gets its partition's value
    for stream, part in ((in_path, parts[1]), (in_query, only)):
        list(stream.pages(part))
    assert asked == [f"{BASE}/orgs/globex/members", f"{BASE}/members?org=acme"]
    with pytest.raises(ValidationError, match="repeats a value"):
        _source(**base, endpoint="/m", partitions={"param": "org", "values": "a,a"})


def test_an_incremental_parameter_asks_from_the_lookback_before_the_highest_seen() -> None:
    asked: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["since"])
        return httpx.Response(200, json=[])

    inc = {"param": "since", "cursor_path": "meta.updated", "initial_value": "0",
           "format": "epoch_ms", "lookback_s": 30}
    stream = _stream(_source(name="items", endpoint="/items", records_path="",
                             primary_key="id", pagination={"style": "single"},
                             incremental=inc, table="items", columns={"id": {}}), api)
    list(stream.pages(Partition("shop", "items", "all", "single")))
    list(stream.pages(Partition("shop", "items", "all", "single", high_water="1700000060000")))
    assert asked == ["0", "1700000030000"]


@pytest.mark.parametrize(("value", "seconds", "fmt", "expected"), [
    ("2026-10-01T00:01:00Z", -60, "iso", "2026-10-01T00:00:00Z"),
    ("2026-10-01T00:01:00+02:00", -30, "iso", "2026-10-01T00:00:30+02:00"),
    ("1790812860", -60, "epoch_s", "1790812800"),
    ("1790812860000", -1.5, "epoch_ms", "1790812858500"),
    ("abc", -60, "text", "abc"),
])
def test_a_cursor_value_shifts_in_its_own_format(value: str, seconds: float, fmt: str,
                                                  expected: str) -> None:
    assert shifted(value, seconds, fmt) == expected


def test_an_exclusive_bound_asks_from_one_unit_under_the_edge() -> None:
    asked: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["since"])
        return httpx.Response(200, json=[])

    seen = "2026-10-01T00:01:00Z"
    for bound, fmt, high in (("exclusive", "iso", seen), ("inclusive", "iso", seen),
                             ("exclusive", "epoch_ms", "1700000060000"),
                             ("exclusive", "text", "abc")):
        inc = {"param": "since", "cursor_path": "at", "initial_value": "0", "bound": bound,
               "format": fmt}
        stream = _stream(_source(name="items", endpoint="/items", records_path="",
                                 primary_key="id", pagination={"style": "single"},
                                 incremental=inc, table="items", columns={"id": {}}), api)
        list(stream.pages(Partition("shop", "items", "all", "single", high_water=high)))
    assert asked == ["2026-10-01T00:00:59Z", seen, "1700000059999", "abc"]
