"""One way every function serves HTTP: Powertools' ``APIGatewayHttpResolver`` with

- request validation from the route's pydantic types, answering 422 with a message that
  names each field and problem (Powertools' own answer lists only error types);
- one error shape, ``{"message": ...}``, as API Gateway answers its own errors;
- the API's OpenAPI document at ``GET <prefix>/openapi.json``, generated from the routes.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

JSON = "application/json"


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status, JSON, orjson.dumps(body, default=str).decode(), headers)


def binary(content_type: str, body: bytes, headers: dict[str, str] | None = None
           ) -> Response[str]:
    """Bytes, base64-encoded for the gateway (the resolver's response validation would turn
    a bytes body into text)."""
    resp = Response(200, content_type, base64.b64encode(body).decode(), headers)
    resp.base64_encoded = True
    return resp


def error(status: int, message: str) -> Response[str]:
    return answer(status, {"message": message})


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc]
    return ".".join(parts) or "body"


def resolver(title: str, prefix: str) -> APIGatewayHttpResolver:
    """A resolver whose OpenAPI document is served at ``<prefix>/openapi.json``."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[str]:
        problems = [f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', e.get('type'))}"
                    for e in exc.errors()]
        sent = (app.current_event.headers or {}).get("content-type", "")
        hint = "" if not sent or sent.startswith(JSON) else \
            f" (the body was sent as {sent}; send it as {JSON})"
        return error(422, ("; ".join(problems) or "invalid request") + hint)

    # Powertools decodes a base64 body as UTF-8 before validating it, and lets this escape.
    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def _not_text(exc: UnicodeDecodeError) -> Response[str]:
        return error(400, f"the body is not UTF-8 text: {exc.reason} at byte {exc.start}")

    @app.not_found
    def _missing(exc: Exception) -> Response[str]:
        event = app.current_event
        return error(404, f"no route {event.http_method} {event.path}")

    @app.get(f"{prefix}/openapi.json", include_in_schema=False)
    def _openapi() -> Response[str]:
        return Response(200, JSON, app.get_openapi_json_schema(title=title, version="1"))

    return app
