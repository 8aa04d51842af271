"""One way every function serves HTTP: Powertools' ``APIGatewayHttpResolver`` with

- request validation from the route's pydantic types, answering 422 with a message that
  names each field and problem (Powertools' own answer lists only error types);
- one error shape, ``{"message": ...}`` (``Message``), as API Gateway answers its own errors;
- a query parameter the operation does not take refused with 400, naming it, and a method the
  path does not take with 405 and ``Allow`` (the template routes ``ANY`` to the function so
  that it can say so, on AWS as here);
- text no request can hold (``tributary.api.text``: NUL, lone surrogates, control characters
  in parameters) refused with 400, naming the parameter or the body's field, before any
  handler passes it to PostgreSQL or DuckDB (a NUL there was a 500);
- the API's OpenAPI document at ``GET <prefix>/openapi.json``, generated from the routes and
  their ``documented`` answers, so what it says is what the handlers send.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from pydantic import BaseModel

from tributary.api.text import BAD_TEXT, first_problem, parameter_problem, shown

JSON = "application/json"
_COMMON = {400: "A query parameter this operation does not take",
           422: "The request does not match this document; the message names each field"}
_AUTHORIZED = {401: "No bearer token was sent", 403: "The bearer token is not this stack's"}


class Message(BaseModel):
    """Every refusal: what was wrong, and what to do about it."""

    message: str


def documented(status: int, model: type[BaseModel], description: str,
               errors: dict[int, str] | None = None,
               also: dict[str, Any] | None = None) -> dict[int, Any]:
    """A route's answers for its OpenAPI document: ``model`` on success (``also``: other
    content types), ``Message`` on each refusal (the common ones included)."""
    ok = {"description": description, "content": {JSON: {"model": model}, **(also or {})}}
    why = _COMMON | (errors or {})
    why[400] = f"{why[400]}; or {BAD_TEXT}. The message names the parameter or field"
    return {status: ok} | {code: {"description": text, "content": {JSON: {"model": Message}}}
                           for code, text in why.items()}


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


def _allowed(app: APIGatewayHttpResolver, path: str) -> list[str]:
    routes = app._static_routes + app._dynamic_routes
    return sorted({r.method for r in routes if r.rule.match(path)})


def _path_parameters(app: APIGatewayHttpResolver, path: str) -> dict[str, str]:
    """The path's parameters by the first route template it fits, whatever they hold
    (Powertools' patterns take URL-safe characters only: a NUL in one matches no route)."""
    segments = path.strip("/").split("/")
    for route in app._static_routes + app._dynamic_routes:
        template = route.path.strip("/").split("/")
        if len(template) == len(segments) and all(
                t == s or t.startswith("<") for t, s in zip(template, segments, strict=True)):
            return {t.strip("<>"): s for t, s in zip(template, segments, strict=True)
                    if t.startswith("<")}
    return {}


def _bad_text(app: APIGatewayHttpResolver) -> Response[str] | None:
    """400 for the first text in the request that no operation can take (the rule is
    ``tributary.api.text``'s), or None. Query and path parameters are checked whatever the
    route; headers and the body as the route declares them. A body the resolver does not
    validate is its handler's to check (the webhook's, after its size and signature)."""
    event = app.current_event
    route = app.context.get("_route")
    if route not in app._static_routes + app._dynamic_routes:
        route = None  # Powertools' not-found route: it declares nothing
    headers = event.headers or {}
    texts = [(f"query parameter {shown(k)}", v)
             for k, v in (event.query_string_parameters or {}).items()]
    texts += [(f"the name of query parameter {shown(k)}", k)
              for k in event.query_string_parameters or {}]
    texts += [(f"path parameter {k}", v)
              for k, v in _path_parameters(app, event.path).items()]
    if route is not None:
        texts += [(f"header {f.alias}", headers[f.alias.lower()])
                  for f in route.dependant.header_params if f.alias.lower() in headers]
    for where, text in texts:
        problem = parameter_problem(text)
        if problem:
            return error(400, f"{where}: {problem}")
    if route is not None and route.dependant.body_params and route.enable_validation is not False:
        try:
            body = event.json_body
        except ValueError:
            return None  # not JSON: validation says so
        problem = first_problem(body, "body")
        if problem:
            return error(400, problem)
    return None


def _known_parameters(app: APIGatewayHttpResolver, next_middleware: NextMiddleware
                      ) -> Response[str]:
    """Every request, found or not, validated or not, passes here (a request that fails
    validation does not: ``_invalid`` asks the same question)."""
    refused = _bad_text(app)
    if refused:
        return refused
    route = app.context.get("_route")
    if route not in app._static_routes + app._dynamic_routes:
        return next_middleware(app)  # Powertools' not-found route: 404 or 405 says so
    declared = {f.alias for f in route.dependant.query_params}
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - declared)
    if unknown:
        return error(400, f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(unknown)}: this operation takes "
                          f"{', '.join(sorted(declared)) or 'none'}")
    return next_middleware(app)


def _truthful(document: dict[str, Any], authorized: bool) -> dict[str, Any]:
    """What the generated document cannot say from the signatures: every body an operation
    takes is required, and behind the authorizer every operation may answer 401 and 403."""
    for operation in (op for path in document.get("paths", {}).values() for op in path.values()):
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
        if authorized:
            operation["responses"].update({str(code): {"description": why, "content": {
                JSON: {"schema": {"$ref": "#/components/schemas/Message"}}}}
                for code, why in _AUTHORIZED.items()})
    return document


def resolver(title: str, prefix: str, authorized: bool = True) -> APIGatewayHttpResolver:
    """A resolver whose OpenAPI document is served at ``<prefix>/openapi.json``;
    ``authorized``: its routes are behind the stack's bearer-token authorizer."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app.use([_known_parameters])

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(exc: RequestValidationError) -> Response[str]:
        refused = _bad_text(app)  # a NUL in an integer is bad text first, a bad integer next
        if refused:
            return refused
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

    # Powertools parses a body by its declared type before validating it: a multipart type
    # without a boundary raises. The routes take JSON: say so, rather than a 500.
    @app.exception_handler(ValueError)  # type: ignore[untyped-decorator]
    def _not_json(exc: ValueError) -> Response[str]:
        sent = (app.current_event.headers or {}).get("content-type", "")
        if not sent or sent.startswith(JSON):
            raise exc
        return error(415, f"the body was sent as {sent}; send it as {JSON}")

    @app.not_found
    def _missing(exc: Exception) -> Response[str]:
        event = app.current_event
        allowed = _allowed(app, event.path)
        if allowed:
            return answer(405, {"message": f"{event.http_method} is not allowed on {event.path}: "
                                           f"it takes {', '.join(allowed)}"},
                          {"Allow": ", ".join(allowed)})
        return error(404, f"no route {event.http_method} {event.path}")

    @app.get(f"{prefix}/openapi.json", include_in_schema=False)
    def _openapi() -> Response[str]:
        schemes: dict[str, SecurityScheme] = {"bearer": HTTPBearer(
            description="The stack's API token (.tributary/credentials/api-token)")}
        document = orjson.loads(app.get_openapi_json_schema(
            title=title, version="1", security_schemes=schemes if authorized else None,
            security=[{"bearer": []}] if authorized else None))
        return Response(200, JSON, orjson.dumps(_truthful(document, authorized)).decode())

    return app
