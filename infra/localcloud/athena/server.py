"""The Athena service's HTTP face: both protocols AWS's SDKs speak to Athena, JSON 1.1
(``X-Amz-Target: AmazonAthena.<Operation>``) and REST-JSON, read by ``protocol`` from
botocore's model; the emulator forwards every Athena request here as it came.

Run: ``python -m localcloud.athena`` (the stack starts it; ports and paths from settings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from localcloud.athena import protocol
from localcloud.athena.errors import InvalidRequest

Operations = Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
JSON_1_1 = "application/x-amz-json-1.1"


def _answer(status: int, body: dict[str, Any], rest: bool, error: str | None = None
            ) -> Response:
    # Clients of both protocols read an error's code from X-Amzn-ErrorType, then ``__type``.
    return Response(orjson.dumps(body), status, media_type="application/json" if rest
                    else JSON_1_1, headers={"X-Amzn-ErrorType": error} if error else None)


def _error(status: int, code: str, message: str, rest: bool) -> Response:
    return _answer(status, {"__type": code, "Message": message}, rest, code)


def _call(request: Request, body: bytes) -> protocol.Call:
    target = request.headers.get("x-amz-target")
    if target is not None:
        return protocol.json_call(target, body)
    return protocol.rest_call(request.method, request.scope["raw_path"].decode("latin-1"),
                              request.query_params.multi_items(), request.headers, body)


def app(operations: Operations) -> Starlette:
    async def call(request: Request) -> Response:
        rest = "x-amz-target" not in request.headers
        try:
            called = _call(request, await request.body())
        except protocol.BadCall as exc:
            return _error(exc.status, exc.code, str(exc), rest)
        operation = operations.get(called.operation)
        if operation is None:
            return _error(400, "UnknownOperationException",
                          f"{called.operation or 'no operation'} is not an operation this "
                          "Athena serves", rest)
        try:
            # Queries run on the service's worker; a call may still read Glue or S3.
            answer = await run_in_threadpool(operation, called.input)
        except InvalidRequest as exc:
            return _answer(400, {"__type": exc.code, "Message": str(exc),
                                 "AthenaErrorCode": exc.code}, rest, exc.code)
        return _answer(called.status, answer, rest)

    async def health(request: Request) -> Response:
        return _answer(200, {"status": "ok"}, rest=False)

    return Starlette(routes=[Route("/health", health, methods=["GET"]),
                             Route("/{path:path}", call, methods=METHODS)])
