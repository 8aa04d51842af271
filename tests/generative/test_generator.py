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
from tests.generative.api import Api, Row, generate
from tests.generative.declare import declaration
from tests.generative.records import row_of
from tests.generative.server import Upstream
from tributary.clients import aws_client, aws_resource
from tributary.extract.checkpoints import Partition
from tributary.extract.fetch import child_partitions
from tributary.extract.stream import DeclaredStream, client_for
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
        checkpoints_table(aws_resource("dynamodb"), get_settings().checkpoints_table)
        yield
    aws_client.cache_clear()


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


def test_features_switch_off() -> None:
    on = F.parse("-children,-incremental,-oauth2_client_credentials,-cursor")
    for seed in range(20):
        api = generate(seed, on)
        assert api.auth.kind != "oauth2_client_credentials"
        assert all(s.child_of is None and s.incremental is None and s.style != "cursor"
                   for s in api.streams)
    with pytest.raises(ValueError, match="unknown feature"):
        F.parse("-no_such_thing")


def _source(api: Api) -> Source:
    return parse(declaration(api, PORT), f"{api.name}.yaml")


def _fetch(source: Source, stream: str, partitions: list[Partition]) -> list[dict[str, Any]]:
    fetcher = DeclaredStream(source, source.stream(stream), client_for(source))
    out: list[dict[str, Any]] = []
    for p in partitions:
        for page in fetcher.pages(p):
            if page.skipped or page.not_modified:
                continue
            found = records_at(decode(page.body, fetcher.stream.decoder),
                               fetcher.stream.records_path)
            assert found is not None
            include = p.extra.get("include", {})
            out += [{**r, **include} for r in found]
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_paginators_find_the_truth(seed: int, upstream: tuple[Upstream, list[Api]]) -> None:
    api = upstream[1][seed]
    source = _source(api)
    truth = api.truth()
    fetched: dict[str, list[dict[str, Any]]] = {}
    for s in api.streams:
        if s.child_of:
            parts = child_partitions(api.name, source.stream(s.name), fetched[s.child_of.parent])
        else:  # one, or one per listed value
            parts = DeclaredStream(source, source.stream(s.name), client_for(source)).listed()
        fetched[s.name] = _fetch(source, s.name, parts)
        rows: dict[str, Row] = dict(row_of(s, r) for r in fetched[s.name])
        assert len(rows) == len(fetched[s.name]) or s.incremental, f"{s.name}: duplicates"
        assert rows == truth[s.name], f"seed {seed} {s.name} ({s.style}, {s.shape})"
