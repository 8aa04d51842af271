"""The Lambda authorizer of every HTTP route but the webhook (API Gateway HTTP API, payload
2.0, simple responses): ``Authorization: Bearer <token>`` must carry the stack's API token.

With no token configured (the template parameter left empty) nothing is authorized: a
deployed stack is closed until it is given one.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

TOKEN_VARIABLE = "TRIBUTARY_API_TOKEN"


def authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and \
        hmac.compare_digest(given.strip().encode(), token.encode())


def handle(event: dict[str, Any]) -> dict[str, bool]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return {"isAuthorized": authorized(headers.get("authorization"),
                                       os.environ.get(TOKEN_VARIABLE, ""))}
