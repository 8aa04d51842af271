"""Every HTTP route, fuzzed from its own OpenAPI document with schemathesis.

No answer is a 5xx; every refusal is a 4xx with a message; a refused webhook request keeps
nothing (its event ids are not in the inbox unless an accepted request also carried them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance

from tests.conftest import ROOT, Cloud, start_cloud

pytestmark = pytest.mark.integration
ENV = {"TRIBUTARY_HALLOW_PUSH": "false", "TRIBUTARY_SCHEDULE_SCALE": "1000",
       "TRIBUTARY_DATASYNC_EVENTS": "1000", "TRIBUTARY_QUERY_TIMEOUT_S": "5"}
accepted_ids: set[str] = set()
refused_ids: set[str] = set()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("fuzz"), ROOT / "template.yaml", 4800, ENV,
                        polling=frozenset())
    yield c
    c.stack.down()
    mp.undo()


@pytest.fixture(scope="module")
def query_api(cloud: Cloud) -> Any:
    return schemathesis.openapi.from_url(f"{cloud.settings.runtime_url}/query/openapi.json",
                                         headers=cloud.auth)


@pytest.fixture(scope="module")
def webhook_api(cloud: Cloud) -> Any:
    return schemathesis.openapi.from_url(f"{cloud.settings.runtime_url}/webhook/openapi.json",
                                         headers=cloud.auth)


def _refusals_say_why(response: Any) -> None:
    if 400 <= response.status_code < 500:
        body = orjson.loads(response.content)
        assert isinstance(body.get("message"), str) and body["message"], body


def _event_ids(body: Any) -> set[str]:
    events = body.get("events") if isinstance(body, dict) else None
    listed = events if isinstance(events, list) else []  # the fuzzer sends {"events": true}
    return {str(e["event_id"]) for e in listed if isinstance(e, dict) and
            isinstance(e.get("event_id"), str)}


FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def _fuzz(api: Any, check: Callable[[Any], None]) -> int:
    """Run ``check`` on schema-valid and schema-violating cases of every operation."""
    operations = [result.ok() for result in api.get_all_operations()]
    for op in operations:
        for mode in GenerationMode:
            try:
                FUZZ(given(op.as_strategy(generation_mode=mode))(lambda case: check(case)))()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to violate (no input)
    return len(operations)


def _call(case: Any, cloud: Cloud) -> Any:
    response = case.call(timeout=30, headers=cloud.auth)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
    _refusals_say_why(response)
    return response


def test_query_api_never_fails_on_bad_input(cloud: Cloud, query_api: Any) -> None:
    def check(case: Any) -> None:
        _call(case, cloud)

    assert _fuzz(query_api, check) == 2


def test_webhook_never_fails_and_keeps_nothing_it_refused(cloud: Cloud,
                                                          webhook_api: Any) -> None:
    def check(case: Any) -> None:
        response = _call(case, cloud)
        ids = _event_ids(case.body)
        (accepted_ids if response.status_code == 200 else refused_ids).update(ids)

    assert _fuzz(webhook_api, check) == 1


def test_refused_requests_left_nothing_in_the_inbox(cloud: Cloud) -> None:
    assert refused_ids, "the fuzzing should have sent refused events"
    kept = {r[0] for r in cloud.sql("SELECT event_id FROM webhook_inbox")} \
        if cloud.sql("SELECT to_regclass('webhook_inbox')")[0][0] else set()
    assert kept <= accepted_ids
    assert not (kept & (refused_ids - accepted_ids))


def test_the_documents_describe_every_route(cloud: Cloud) -> None:
    query = httpx.get(f"{cloud.settings.runtime_url}/query/openapi.json",
                      headers=cloud.auth).json()
    webhook = httpx.get(f"{cloud.settings.runtime_url}/webhook/openapi.json",
                        headers=cloud.auth).json()
    assert set(query["paths"]) == {"/query", "/tables"}
    assert set(webhook["paths"]) == {"/webhook/events"}
    body = webhook["paths"]["/webhook/events"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]
