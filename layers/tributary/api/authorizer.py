"""The Lambda authorizer of every route but the webhook: the stack's API token must be given.

- HTTP API routes (payload 2.0, simple responses): ``Authorization: Bearer <token>``.
- The WebSocket API's ``$connect`` (a REQUEST authorizer): ``?token=<token>`` in the URL,
  since browsers cannot set headers on a WebSocket; the answer is an IAM policy, as
  WebSocket APIs require.

With no token configured (the template parameter left empty) nothing is authorized: a
deployed stack is closed until it is given one.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

TOKEN_VARIABLE = "TRIBUTARY_API_TOKEN"


def _same(given: str, token: str) -> bool:
    return bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())


def authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and _same(given, token)


def _policy(method_arn: str, allow: bool) -> dict[str, Any]:
    return {"principalId": "tributary-user" if allow else "anonymous", "policyDocument": {
        "Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": "Allow" if allow else "Deny",
            "Resource": method_arn}]}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = os.environ.get(TOKEN_VARIABLE, "")
    if "methodArn" in event:
        given = str((event.get("queryStringParameters") or {}).get("token") or "")
        return _policy(str(event["methodArn"]), _same(given, token))
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return {"isAuthorized": authorized(headers.get("authorization"), token)}
