"""The shared resolver: what every HTTP API answers for the mistakes a client makes, and what
its OpenAPI document says."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import pytest
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from pydantic import BaseModel

from tributary.api.resolver import answer, documented, resolver


class Echo(BaseModel):
    sql: str


class Seen(BaseModel):
    limit: int


app = resolver("Test API", "/test")


@app.get("/items", responses=documented(200, Seen, "The limit"))
def items(limit: Annotated[int, Query(ge=1)] = 10) -> Response[str]:
    return answer(200, {"limit": limit})


@app.post("/items", responses=documented(200, Seen, "Kept"))
def keep(body: Echo) -> Response[str]:
    return answer(200, {"limit": len(body.sql)})


@app.get("/items/<name>", responses=documented(200, Echo, "The name and tag"))
def named(name: str, tag: Annotated[str, Header(alias="x-tag")] = "",
          q: Annotated[str, Query()] = "") -> Response[str]:
    return answer(200, {"sql": name + tag + q})


def _call(method: str, path: str, query: dict[str, str] | None = None, body: str = "",
          content_type: str = "application/json", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, Any], Any]:
    event = {"version": "2.0", "routeKey": f"ANY {path}", "rawPath": path,
             "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
             "queryStringParameters": query,
             "headers": {"content-type": content_type} | (headers or {}),
             "requestContext": {"http": {"method": method, "path": path, "sourceIp": "1.2.3.4"},
                                "stage": "$default"},
             "body": body, "isBase64Encoded": False}
    out = app.resolve(event, None)
    return out["statusCode"], out.get("headers", {}), orjson.loads(out["body"])


def test_a_method_the_path_does_not_take_gets_405_with_allow() -> None:
    status, headers, body = _call("PUT", "/items")
    assert (status, headers["Allow"]) == (405, "GET, POST")
    assert body == {"message": "PUT is not allowed on /items: it takes GET, POST"}
    assert _call("GET", "/nowhere")[0] == 404


def test_an_unknown_query_parameter_is_named() -> None:
    assert _call("GET", "/items", {"limit": "3"})[2] == {"limit": 3}
    status, _, body = _call("GET", "/items", {"limit": "3", "lmit": "4"})
    assert (status, body["message"]) == (400, "unknown query parameter lmit: this operation "
                                              "takes limit")


def test_a_body_that_is_not_json_is_refused_with_415() -> None:
    status, _, body = _call("POST", "/items", body='{"sql": "x"}',
                            content_type="multipart/form-data")
    assert status == 415 and "send it as application/json" in body["message"]
    assert _call("POST", "/items", body='{"sql": "abc"}')[2] == {"limit": 3}


def test_the_document_states_every_answer() -> None:
    status, _, doc = _call("GET", "/test/openapi.json")
    assert status == 200
    post = doc["paths"]["/items"]["post"]
    assert post["requestBody"]["required"] is True
    assert set(post["responses"]) == {"200", "400", "401", "403", "422"}
    refusal = {"$ref": "#/components/schemas/Message"}
    assert all(post["responses"][c]["content"]["application/json"]["schema"] == refusal
               for c in ("400", "401", "403", "422"))
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Seen"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearer": []}]


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "where", "what"), [
    ("GET", "/items", {"limit": "3\x00"}, {}, "", "query parameter limit", "NUL"),
    ("GET", "/items/a", {"q": "a\x00b"}, {}, "", "query parameter q", "NUL"),
    ("GET", "/items/a", {"q": "a\nb"}, {}, "", "query parameter q", "control character (U+000A)"),
    ("GET", "/items/a", {"q": "\ud800"}, {}, "", "query parameter q", "lone UTF-16 surrogate"),
    ("GET", "/items", {"li\x01mit": "3"}, {}, "",
     "the name of query parameter 'li\\x01mit'", "control"),
    ("GET", "/items/a\x00b", None, {}, "", "path parameter name", "NUL"),
    ("GET", "/items/a\x7fb", None, {}, "", "path parameter name", "U+007F"),
    ("GET", "/items/a", None, {"x-tag": "a\x85"}, "", "header x-tag", "U+0085"),
    ("POST", "/items", None, {}, '{"sql": "select \'\\u0000\'"}', "body.sql", "NUL"),
    ("POST", "/items", None, {}, '{"sql": "\\ud800"}', "body.sql", "surrogate"),
    ("POST", "/items", None, {}, '{"sql": "x", "\\u0000": 1}', "body.'\\x00' (its name)",
     "NUL"),
])
def test_text_no_request_can_hold_is_a_400_that_names_where(
        method: str, path: str, query: dict[str, str] | None, headers: dict[str, str],
        body: str, where: str, what: str) -> None:
    status, _, answer_ = _call(method, path, query, body, headers=headers)
    assert status == 400, answer_
    assert answer_["message"].startswith(f"{where}: ") and what in answer_["message"], answer_


def test_control_characters_in_a_body_are_data() -> None:
    assert _call("POST", "/items", body='{"sql": "a\\tb\\u0001"}')[:3:2] == (200, {"limit": 4})
    assert _call("GET", "/items/a", {"q": "é €"}, headers={"x-tag": "b"})[2] == {"sql": "abé €"}


def test_the_400_says_what_text_is_refused() -> None:
    doc = _call("GET", "/test/openapi.json")[2]
    for path in doc["paths"].values():
        for operation in path.values():
            assert "NUL character" in operation["responses"]["400"]["description"]
