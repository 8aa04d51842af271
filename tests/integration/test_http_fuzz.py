"""Every HTTP route, fuzzed from its own OpenAPI document with schemathesis.

No answer is a 5xx; every refusal is a 4xx with a message; a refused webhook request keeps
nothing (its event ids are not in the inbox unless an accepted request also carried them).
And every parameter and body string of every operation of every API, given NUL, control
characters and a lone surrogate, is refused with a 400 that names it (a body string may take a
control character other than NUL as data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
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
from tributary.api.text import data_problem, parameter_problem, shown
from tributary.webhook.models import PushedEvent

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


@pytest.fixture(scope="module")
def apis(cloud: Cloud) -> dict[str, Any]:
    return {api: schemathesis.openapi.from_url(
        f"{cloud.settings.runtime_url}/{api}/openapi.json", headers=cloud.auth)
        for api in ("live", "query", "sources", "webhook")}


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


# What each place can carry: requests cannot percent-encode a lone surrogate into a URL (it has
# no UTF-8 form), and HTTP carries no control character in a header value but obs-text (bytes
# 0x80-0xFF, read as Latin-1: U+0080-U+009F are C1 controls).
PARAMETER_TEXT = {"NUL": "a\x00b", "control": "a\x01b", "newline": "a\nb", "DEL": "\x7f",
                  "C1": "a\x85"}
HEADER_TEXT = {"C1": "a\x85", "C1 end": "\x9f"}
BODY_TEXT = {"NUL": "a\x00b", "lone surrogate": "\ud800", "control": "a\x01b"}
BODY_PLACES = 8


def _strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _strings(item, (*path, key))


def _replaced(value: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], text)
    return copy


def _clean(value: Any, problem: Callable[[str], str | None]) -> Any:
    if isinstance(value, str):
        return "x" if problem(value) else value
    if isinstance(value, dict):
        return {_clean(k, problem): _clean(v, problem) for k, v in value.items()}
    return [_clean(v, problem) for v in value] if isinstance(value, list) else value


def _ignored(path: tuple[Any, ...] | None) -> bool:
    """A webhook body's place that is not kept (partners add fields; they are ignored)."""
    return path is not None and (len(path) < 3 or path[0] != "events" or
                                 path[2] not in PushedEvent.model_fields)


def _bad_variants(case: Any, auth: dict[str, str]
                  ) -> Iterator[tuple[str, str, Any, tuple[Any, ...] | None]]:
    """(where, what, the case with that one place holding bad text, the body path) for every
    parameter the operation declares and every string in the case's body."""
    op = case.operation
    # The generated case may hold bad text already: clean it, so each variant has one place.
    places = {"query": _clean(dict(case.query or {}), parameter_problem),
              "path_parameters": _clean(dict(case.path_parameters or {}), parameter_problem),
              "headers": _clean(dict(case.headers or {}), parameter_problem) | auth,
              "body": _clean(case.body, data_problem), "media_type": case.media_type}
    for param in op.iter_parameters():
        place = {"query": "query", "path": "path_parameters", "header": "headers"}.get(
            param.location)
        if place is None or param.name.lower() == "authorization":  # the authorizer's
            continue
        for what, text in (HEADER_TEXT if place == "headers" else PARAMETER_TEXT).items():
            if place == "path_parameters" and text == "a\nb":
                continue  # the local gateway's catch-all route takes no newline (a plain 404)
            yield param.name, what, op.Case(**places | {place: places[place] | {
                param.name: text}}), None
    body = places["body"]
    if isinstance(body, (dict, list)):
        # Some places of each body, spread over it: every place of every generated body took
        # the webhook's run past five minutes (a batch holds up to 500 events).
        paths = list(_strings(body))
        for path in paths[::max(1, len(paths) // BODY_PLACES)][:BODY_PLACES]:
            for what, text in BODY_TEXT.items():
                yield shown(str(path[-1])), what, op.Case(**places | {
                    "body": _replaced(body, path, text)}), path


@pytest.mark.parametrize("api", ["live", "query", "sources", "webhook"])
def test_bad_text_in_every_place_is_a_400_naming_it(cloud: Cloud, apis: dict[str, Any],
                                                    api: str) -> None:
    sent = count()

    def check(case: Any) -> None:
        for where, what, bad, path in _bad_variants(case, cloud.auth):
            next(sent)
            response = bad.call(timeout=30)
            assert response.status_code < 500, (where, what, response.text)
            if response.status_code == 200:  # a control character in a body string is data
                assert what == "control" or api == "webhook" and _ignored(path), (where, what)
                accepted_ids.update(_event_ids(bad.body))
                continue
            refused_ids.update(_event_ids(bad.body))
            message = orjson.loads(response.content)["message"]
            assert 400 <= response.status_code < 500 and message, (where, what)
            # A control character in a body may be refused for another reason (SQL), and a
            # generated body may hold another problem that is named first.
            if (what != "control" or path is None) and "more problem" not in message:
                assert response.status_code == 400 and where in message, (where, what, message)

    operations = [result.ok() for result in apis[api].get_all_operations()]
    for op in operations:
        settings(FUZZ, max_examples=3)(given(op.as_strategy())(check))()
    assert next(sent) > 0


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
