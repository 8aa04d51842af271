"""The Athena service's HTTP face: AWS's JSON 1.1 protocol (``X-Amz-Target:
AmazonAthena.<Operation>``), as the emulator forwards it.

Run: ``python -m localcloud.athena`` (the stack starts it; ports and paths from settings).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from localcloud.athena.errors import InvalidRequest
from localcloud.athena.service import Athena

JSON = "application/x-amz-json-1.1"


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status, media_type=JSON)


def app(athena: Athena) -> Starlette:
    async def call(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        operation = athena.operations.get(target.removeprefix("AmazonAthena."))
        if operation is None:
            return _answer(400, {"__type": "UnknownOperationException",
                                 "Message": f"{target or 'no X-Amz-Target'} is not an "
                                            "operation this Athena serves"})
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return _answer(400, {"__type": "SerializationException",
                                 "Message": "the body is not JSON"})
        try:
            # Queries run on the service's worker; a call may still read Glue or S3.
            return _answer(200, await run_in_threadpool(operation, body))
        except InvalidRequest as exc:
            return _answer(400, {"__type": exc.code, "Message": str(exc),
                                 "AthenaErrorCode": exc.code})

    async def health(request: Request) -> Response:
        return _answer(200, {"status": "ok"})

    return Starlette(routes=[Route("/", call, methods=["POST"]),
                             Route("/health", health, methods=["GET"])])
