"""The shared resolver: what every HTTP API answers for the mistakes a client makes, and what
its OpenAPI document says."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
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


def _call(method: str, path: str, query: dict[str, str] | None = None, body: str = "",
          content_type: str = "application/json") -> tuple[int, dict[str, Any], Any]:
    event = {"version": "2.0", "routeKey": f"ANY {path}", "rawPath": path,
             "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
             "queryStringParameters": query, "headers": {"content-type": content_type},
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
