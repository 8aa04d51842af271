"""API Gateway v2 semantics: route matching and response mapping."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson

from localcloud.runtime.http import apigw_response, compile_route, match_route
from localcloud.runtime.pool import InvokeResult
from localcloud.template import Function, HttpRoute


def _fn(name: str) -> Function:
    return Function(name, name, Path("."), "app.h", (), 3, 128, {}, None, False, (), (), ())


def test_routes_match_method_and_path_parameters() -> None:
    routes = [compile_route(_fn("items"), HttpRoute("GET", "/items/{id}")),
              compile_route(_fn("proxy"), HttpRoute("ANY", "/files/{proxy+}"))]
    found = match_route(routes, "GET", "/items/42")
    assert found and found[0].fn.name == "items" and found[1] == {"id": "42"}
    assert match_route(routes, "POST", "/items/42") is None
    found = match_route(routes, "DELETE", "/files/a/b/c.txt")
    assert found and found[1] == {"proxy": "a/b/c.txt"}
    assert match_route(routes, "GET", "/items/42/extra") is None


def test_the_most_specific_route_wins_as_on_api_gateway() -> None:
    """Listed catch-alls first: the route's own method beats ANY, a path beats a greedy one."""
    routes = [compile_route(_fn("other"), HttpRoute("ANY", "/live/{proxy+}")),
              compile_route(_fn("any-rows"), HttpRoute("ANY", "/live/rows")),
              compile_route(_fn("rows"), HttpRoute("GET", "/live/rows"))]
    assert [match_route(routes, m, "/live/rows")[0].fn.name  # type: ignore[index]
            for m in ("GET", "PUT")] == ["rows", "any-rows"]
    found = match_route(routes, "GET", "/live/histogram")
    assert found and found[0].fn.name == "other"


def _result(payload: object, error: str | None = None) -> InvokeResult:
    return InvokeResult(orjson.dumps(payload), error, 1.0, False, "r")


def test_structured_response_is_mapped() -> None:
    resp = apigw_response(_result({"statusCode": 418, "headers": {"x-a": "1"}, "body": "tea",
                                   "cookies": ["c=1"]}))
    assert resp.status_code == 418 and resp.body == b"tea"
    assert resp.headers["x-a"] == "1" and resp.headers["set-cookie"] == "c=1"


def test_base64_body_is_decoded() -> None:
    body = base64.b64encode(b"\x00\x01binary").decode()
    resp = apigw_response(_result({"statusCode": 200, "body": body, "isBase64Encoded": True}))
    assert resp.body == b"\x00\x01binary"


def test_plain_result_becomes_200_json() -> None:
    resp = apigw_response(_result({"hello": "world"}))
    assert resp.status_code == 200 and orjson.loads(resp.body) == {"hello": "world"}


def test_function_error_becomes_500() -> None:
    resp = apigw_response(_result({"errorMessage": "x"}, "Unhandled"))
    assert resp.status_code == 500
    assert orjson.loads(resp.body) == {"message": "Internal Server Error"}
