"""HTTP in front of the functions: Lambda's Invoke API, function URLs and HTTP API routes.

Requests to function URLs and HTTP API routes become API Gateway v2 (payload format 2.0)
events; the handler's answer is mapped back to an HTTP response the way API Gateway does.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from localcloud.runtime.pool import InvokeResult
from localcloud.template import Function, HttpRoute

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/javascript")


@dataclass(frozen=True)
class CompiledRoute:
    fn: Function
    route: HttpRoute
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return f"{self.route.method} {self.route.path}"


def compile_route(fn: Function, route: HttpRoute) -> CompiledRoute:
    """``/items/{id}`` and ``/{proxy+}`` path templates as regular expressions."""
    parts = []
    for seg in route.path.strip("/").split("/"):
        if seg.startswith("{") and seg.endswith("+}"):
            parts.append(f"(?P<{seg[1:-2]}>.+)")
        elif seg.startswith("{") and seg.endswith("}"):
            parts.append(f"(?P<{seg[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(seg))
    return CompiledRoute(fn, route, re.compile("^/" + "/".join(parts) + "/?$"))


def match_route(routes: list[CompiledRoute], method: str, path: str
                ) -> tuple[CompiledRoute, dict[str, str]] | None:
    """The route API Gateway picks: of those matching, a path without a greedy ``{proxy+}``
    over one with it, then the route's own method over ``ANY``."""
    found = [(r, m) for r in routes if r.route.method in ("ANY", method)
             for m in [r.pattern.match(path)] if m]
    if not found:
        return None
    route, m = min(found, key=lambda f: ("+}" in f[0].route.path, f[0].route.method == "ANY"))
    return route, m.groupdict()


def _utf8(body: bytes) -> bool:
    """Bytes that are not UTF-8 travel base64-encoded, whatever their declared type."""
    try:
        body.decode()
        return True
    except UnicodeDecodeError:
        return False


def apigw_event(request: Request, body: bytes, raw_path: str, route_key: str,
                path_params: dict[str, str] | None) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    content_type = headers.get("content-type", "")
    is_text = not body or (content_type.startswith(_TEXT_TYPES) and _utf8(body))
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    query = {k: ",".join(request.query_params.getlist(k)) for k in request.query_params}
    client = request.client.host if request.client else "127.0.0.1"
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": request.url.query,
        "cookies": [f"{k}={v}" for k, v in request.cookies.items()] or None,
        "headers": headers,
        "queryStringParameters": query or None,
        "pathParameters": path_params or None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", ""),
            "domainPrefix": "local",
            "http": {"method": request.method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": client, "userAgent": headers.get("user-agent", "")},
            "requestId": request_id, "routeKey": route_key, "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(time.time() * 1000),
        },
        "body": (body.decode() if is_text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": not is_text,
    }


def apigw_response(result: InvokeResult) -> Response:
    """API Gateway v2's mapping of a Lambda answer to HTTP."""
    if result.error:
        return JSONResponse({"message": "Internal Server Error"}, status_code=500)
    out = result.json()
    if not (isinstance(out, dict) and "statusCode" in out):
        return Response(orjson.dumps(out), 200, media_type="application/json")
    body = out.get("body") or ""
    raw = base64.b64decode(body) if out.get("isBase64Encoded") else str(body).encode()
    headers = {str(k): str(v) for k, v in (out.get("headers") or {}).items()}
    resp = Response(raw, int(out["statusCode"]), headers=headers)
    for cookie in out.get("cookies") or []:
        resp.raw_headers.append((b"set-cookie", str(cookie).encode()))
    return resp


def invoke_api_response(result: InvokeResult) -> Response:
    """Lambda Invoke API's answer: 200 with the payload, errors flagged by a header."""
    headers = {"X-Amz-Executed-Version": "$LATEST"}
    if result.error:
        headers["X-Amz-Function-Error"] = result.error
    return Response(result.payload or b"null", 200, headers=headers,
                    media_type="application/json")


def aws_error(status: int, error_type: str, message: str) -> Response:
    return JSONResponse({"Type": "User", "message": message}, status_code=status,
                        headers={"X-Amzn-ErrorType": error_type})

