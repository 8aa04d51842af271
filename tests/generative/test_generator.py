"""The generator itself, without a stack: every declaration validates, every style and auth
kind of the declaration model is generated, and tributary's own paginators and auth, fetching
a generated API (chaos off), find exactly the generator's truth. A failure here is the
generator's, so the stack tests can blame the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.conftest import checkpoints_table, serve
from tests.generative import features as F
from tests.generative.api import Api, Row, StreamPlan, generate
from tests.generative.declare import declaration
from tests.generative.records import row_of
from tests.generative.server import Upstream
from tributary.clients import aws_client, aws_resource
from tributary.extract.checkpoints import Partition
from tributary.extract.fetch import child_partitions
from tributary.extract.stream import DeclaredStream, client_for, fetcher_for, newer
from tributary.settings import get_settings
from tributary.sources.decoders import decode
from tributary.sources.loader import parse
from tributary.sources.paths import records_at
from tributary.sources.spec import Source

PORT = 4969  # the generator's own test server (the generative stacks use 4950-4966)
SEEDS = range(40)


@pytest.fixture(scope="module", autouse=True)
def secrets_store() -> Iterator[None]:
    """Rotated refresh tokens are kept in Secrets Manager, and spent under a lease in the
    checkpoints table: moto's, in this process."""
    with mock_aws():
        aws_client.cache_clear()
        aws_resource.cache_clear()
        checkpoints_table(aws_resource("dynamodb"), get_settings().checkpoints_table)
        yield
    aws_client.cache_clear()
    aws_resource.cache_clear()


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, list[Api]]]:
    on = F.defaults() - F.CHAOS
    apis = [generate(seed, on) for seed in SEEDS]
    up = Upstream(apis, chaos=False)
    server = serve(up.app.routes, PORT)
    yield up, apis
    server.should_exit = True


def test_every_style_and_auth_kind_of_the_model_is_generated() -> None:
    apis = [generate(seed, F.defaults()) for seed in range(60)]
    styles = {s.style for a in apis for s in a.streams}
    kinds = {a.auth.kind for a in apis} | {s.auth.kind for a in apis for s in a.streams
                                          if s.auth}
    shapes = {s.shape for a in apis for s in a.streams}
    assert styles == F.STYLES and kinds == F.AUTH_KINDS, (styles, kinds)
    assert shapes == F.SHAPES & F.defaults()
    assert any(s.child_of and s.child_of.refused for a in apis for s in a.streams)
    assert {s.incremental.bound for a in apis for s in a.streams if s.incremental} == {
        "inclusive", "exclusive"}
    assert any(s.posted for a in apis for s in a.streams)  # paging in a POST body
    assert any("cursor_from_record" in s.paging for a in apis for s in a.streams)
    assert {s.listed[1] for a in apis for s in a.streams if s.listed} == {"query", "path"}
    assert any(s.json_lines for a in apis for s in a.streams)
    assert {s.style for a in apis for s in a.streams if s.csv} >= {"single"}
    exports = [s.export for a in apis for s in a.streams if s.export]
    assert {(e.file, e.gzip) for e in exports} == {("csv", True), ("csv", False),
                                                   ("jsonl", True), ("jsonl", False)}
    assert {e.url for e in exports} == {"path", "absolute", "presigned"}
    assert any(e.polls for e in exports)
    assert any(e.bom for e in exports) or any(s.bom for a in apis for s in a.streams)
    assert any("stop_path" in s.paging for a in apis for s in a.streams)
    assert any("initial_cursor" in s.paging for a in apis for s in a.streams)
    incs = [s.incremental for a in apis for s in a.streams if s.incremental]
    assert {i.format for i in incs} == {None, "iso", "epoch_s", "epoch_ms", "text"}
    assert any(i.lookback_s for i in incs) and any(i.send_in == "body" for i in incs)


def test_features_switch_off() -> None:
    on = F.parse("-children,-incremental,-oauth2_client_credentials,-cursor,-export_job,"
                 "-csv_body")
    for seed in range(20):
        api = generate(seed, on)
        assert api.auth.kind != "oauth2_client_credentials"
        assert all(s.child_of is None and s.incremental is None and s.style != "cursor"
                   and s.export is None and not s.csv for s in api.streams)
    on = F.parse("-inc_format,-lookback,-inc_body,-stop_path,-initial_cursor")
    for seed in range(20):
        api = generate(seed, on)
        assert all(s.incremental.format is None and not s.incremental.lookback_s
                   and s.incremental.send_in == "query" for s in api.streams if s.incremental)
        assert all("stop_path" not in s.paging and "initial_cursor" not in s.paging
                   for s in api.streams)
    with pytest.raises(ValueError, match="unknown feature"):
        F.parse("-no_such_thing")


def _source(api: Api) -> Source:
    return parse(declaration(api, PORT), f"{api.name}.yaml")


def _fetch(source: Source, stream: str, partitions: list[Partition],
           tops: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """The records of ``partitions``; ``tops`` gets each one's highest incremental cursor
    value, the high water its next pass asks from (as the fetch keeps it)."""
    fetcher = fetcher_for(source, source.stream(stream), client_for(source))
    out: list[dict[str, Any]] = []
    for p in partitions:
        for page in fetcher.pages(p):
            if tops is not None:
                tops[p.name] = newer(tops.get(p.name), page.top)
            # (An export's job created, or still running: no body.)
            if page.skipped or page.not_modified or not (page.body or page.records):
                continue
            found = records_at(decode(page.body, fetcher.stream.decoder),
                               fetcher.stream.records_path)
            assert found is not None
            include = p.extra.get("include", {})
            out += [{**r, **include} for r in found]
    return out


def _typed(s: StreamPlan, record: dict[str, Any]) -> dict[str, Any]:
    """A CSV record's key values as the generator made them (the declared columns type the
    rest): a number key arrives as its digits."""
    if s.body_format != "csv":
        return record
    wires = {k.wire for k in s.key_cols}
    return {k: int(v) if k in wires and isinstance(v, str) and v.lstrip("-").isdigit() else v
            for k, v in record.items()}


@pytest.mark.parametrize("seed", SEEDS)
def test_paginators_find_the_truth(seed: int, upstream: tuple[Upstream, list[Api]]) -> None:
    api = upstream[1][seed]
    source = _source(api)
    truth = api.truth()
    fetched: dict[str, list[dict[str, Any]]] = {}
    tops: dict[str, dict[str, str | None]] = {}
    held: dict[str, dict[str, Row]] = {}
    for s in api.streams:
        if s.child_of:
            parts = child_partitions(api.name, source.stream(s.name), fetched[s.child_of.parent])
        else:  # one, or one per listed value
            parts = DeclaredStream(source, source.stream(s.name), client_for(source)).listed()
        fetched[s.name] = _fetch(source, s.name, parts, tops.setdefault(s.name, {}))
        rows: dict[str, Row] = dict(row_of(s, _typed(s, r)) for r in fetched[s.name])
        assert len(rows) == len(fetched[s.name]) or s.incremental, f"{s.name}: duplicates"
        assert rows == truth[s.name], f"seed {seed} {s.name} ({s.style}, {s.shape})"
        held[s.name] = rows
    # A second pass over the edited data: an incremental listing asks from the high water
    # (shifted by its bound and lookback, in its format), an export makes a new job.
    api.version = 1
    truth = api.truth()
    for s in api.streams:
        if not s.edited:
            continue
        parts = DeclaredStream(source, source.stream(s.name), client_for(source)).listed()
        for part in parts:
            part.high_water = tops[s.name].get(part.name)
        again = dict(row_of(s, _typed(s, r)) for r in _fetch(source, s.name, parts))
        assert held[s.name] | again == truth[s.name], f"seed {seed} {s.name}, second pass"
        if s.incremental and s.incremental.lookback_s:  # the window before the edge again
            edge = max(r.at_ms for r in s.rows) - s.incremental.lookback_s * 1000
            assert {k for k, r in truth[s.name].items() if r.at_ms > edge} <= again.keys()
