"""The WebSocket gateway: API Gateway WebSocket APIs from the template, served by the runtime.

moto stores WebSocket APIs but serves no socket, so the runtime is the gateway, as it is for
HTTP APIs. A client connects to ``ws://<runtime>/ws/<api name>``; as on API Gateway:

- ``$connect`` runs the route's REQUEST authorizer first (identity from the query string; a
  missing one is 401, a Deny 403, and nothing else runs), then the route's function; a
  non-2xx answer refuses the connection.
- each message goes to the route the selection expression (``$request.body.<field>``)
  names, else ``$default``; a route with a route response sends the function's ``body`` back.
- ``$disconnect`` runs when either side closes.
- functions push with ``apigatewaymanagementapi`` (``post_to_connection``,
  ``get_connection``, ``delete_connection``) at ``<runtime>/_connections``; an unknown or
  closed connection answers 410 ``GoneException``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from localcloud.cfn import ACCOUNT_ID
from localcloud.template import SocketApi, SocketRoute

MAX_FRAME_BYTES = 128 * 1024  # API Gateway's message limit
Invoke = Callable[[str, dict[str, Any]], Awaitable[Any]]  # function name, event -> answer


class FunctionFailed(RuntimeError):
    """The route's function raised or timed out (API Gateway answers 'Internal server
    error')."""


@dataclass
class Connection:
    id: str
    api: SocketApi
    ws: WebSocket
    connected_at: int
    source_ip: str
    context: dict[str, Any] = field(default_factory=dict)  # the authorizer's context
    sent: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _gone(connection_id: str) -> Response:
    return JSONResponse({"message": f"connection {connection_id} is gone"}, 410,
                        headers={"X-Amzn-ErrorType": "GoneException"})


class Gateway:
    def __init__(self, apis: tuple[SocketApi, ...], invoke: Invoke, region: str,
                 domain: str) -> None:
        self.apis = {a.name: a for a in apis}
        self.invoke = invoke
        self.region = region
        self.domain = domain
        self.connections: dict[str, Connection] = {}

    # -- events ----------------------------------------------------------------------------------
    def _context(self, c: Connection, route: str, kind: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {"routeKey": route, "eventType": kind, "messageDirection": "IN",
                "connectionId": c.id, "connectedAt": c.connected_at, "apiId": c.api.logical_id,
                "stage": c.api.stage, "domainName": self.domain, "requestId": str(uuid.uuid4()),
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(time.time() * 1000), "authorizer": c.context or None,
                "identity": {"sourceIp": c.source_ip}}

    def _method_arn(self, api: SocketApi, route: str) -> str:
        return (f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{api.logical_id}/"
                f"{api.stage}/{route}")

    async def _authorize(self, ws: WebSocket, c: Connection, route: SocketRoute) -> int:
        """0 when let in, else the HTTP status the handshake is refused with."""
        query = dict(ws.query_params)
        if any(not query.get(name) for name in route.identity):
            return 401
        if route.authorizer is None:
            return 0
        event = {"type": "REQUEST", "methodArn": self._method_arn(c.api, "$connect"),
                 "headers": dict(ws.headers), "queryStringParameters": query or None,
                 "requestContext": self._context(c, "$connect", "CONNECT")}
        try:
            answer = await self.invoke(route.authorizer, event)
        except FunctionFailed:
            return 500
        statements = ((answer or {}).get("policyDocument") or {}).get("Statement") or [] \
            if isinstance(answer, dict) else []
        if not any(s.get("Effect") == "Allow" for s in statements):
            return 403
        c.context = dict(answer.get("context") or {}) | {
            "principalId": answer.get("principalId")}
        return 0

    # -- the socket ------------------------------------------------------------------------------
    async def serve(self, ws: WebSocket) -> None:
        api = self.apis.get(ws.path_params["api"])
        if api is None:
            await ws.send_denial_response(JSONResponse({"message": "Not Found"}, 404))
            return
        c = Connection(str(uuid.uuid4()).replace("-", "")[:16] + "=", api, ws,
                       int(time.time() * 1000), ws.client.host if ws.client else "127.0.0.1")
        connect = api.routes.get("$connect")
        if connect is not None:
            status = await self._authorize(ws, c, connect)
            if not status:
                try:
                    status = _status(await self.invoke(connect.function, {
                        "headers": dict(ws.headers), "isBase64Encoded": False,
                        "queryStringParameters": dict(ws.query_params) or None,
                        "requestContext": self._context(c, "$connect", "CONNECT")}))
                except FunctionFailed:
                    status = 500
            if status:
                await ws.send_denial_response(JSONResponse(
                    {"message": {401: "Unauthorized", 403: "Forbidden"}.get(status,
                                                                        "Refused")}, status))
                return
        await ws.accept()
        self.connections[c.id] = c
        try:
            while True:
                text = await ws.receive_text()
                await self._message(c, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.connections.pop(c.id, None)
            gone = api.routes.get("$disconnect")
            if gone is not None:
                with contextlib.suppress(Exception):
                    await self.invoke(gone.function, {
                        "requestContext": self._context(c, "$disconnect", "DISCONNECT"),
                        "isBase64Encoded": False})

    async def _message(self, c: Connection, text: str) -> None:
        if len(text.encode()) > MAX_FRAME_BYTES:
            await self._send(c, orjson.dumps({"message": "Message too long"}).decode())
            return
        key = "$default"
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
            key = str(orjson.loads(text).get(c.api.selection_key, "$default"))
        route = c.api.routes.get(key) or c.api.routes.get("$default")
        if route is None:
            await self._send(c, orjson.dumps({"message": "Forbidden"}).decode())
            return
        try:
            answer = await self.invoke(route.function, {
                "requestContext": self._context(c, route.key, "MESSAGE") | {
                    "messageId": str(uuid.uuid4())},
                "body": text, "isBase64Encoded": False})
        except FunctionFailed:
            await self._send(c, orjson.dumps({"message": "Internal server error"}).decode())
            return
        if route.two_way and isinstance(answer, dict) and answer.get("body"):
            await self._send(c, str(answer["body"]))

    async def _send(self, c: Connection, text: str) -> None:
        async with c.lock:
            await c.ws.send_text(text)
            c.sent += 1

    # -- the management API ----------------------------------------------------------------------
    async def manage(self, request: Request) -> Response:
        cid = request.path_params["connection"]
        c = self.connections.get(cid)
        if c is None:
            return _gone(cid)
        if request.method == "GET":
            return JSONResponse({"connectedAt": datetime.fromtimestamp(
                c.connected_at / 1000, UTC).isoformat(), "identity": {"sourceIp": c.source_ip},
                "lastActiveAt": datetime.now(UTC).isoformat()})
        if request.method == "DELETE":
            with contextlib.suppress(RuntimeError):
                await c.ws.close()
            return Response(status_code=204)
        body = await request.body()
        if len(body) > MAX_FRAME_BYTES:
            return JSONResponse({"message": "Message too long"}, 413,
                                headers={"X-Amzn-ErrorType": "PayloadTooLargeException"})
        try:
            await self._send(c, body.decode())
        except (RuntimeError, WebSocketDisconnect, OSError):
            self.connections.pop(cid, None)
            return _gone(cid)
        return Response(status_code=200)

    def stats(self) -> dict[str, Any]:
        return {name: {"connections": sum(1 for c in self.connections.values()
                                          if c.api.name == name)} for name in self.apis}


def _status(answer: Any) -> int:
    """A $connect function's answer as API Gateway reads it: non-2xx refuses."""
    if isinstance(answer, dict) and "statusCode" in answer:
        code = int(answer["statusCode"])
        return 0 if 200 <= code < 300 else code
    return 0
