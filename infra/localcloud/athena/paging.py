"""``NextToken`` and ``MaxResults`` as the list operations use them."""

from __future__ import annotations

import base64
from typing import Any

from localcloud.athena.errors import InvalidRequest


def token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("NextToken is not one this service gave out") from None


def limit(body: dict[str, Any], most: int, default: int) -> int:
    n = int(body.get("MaxResults") or default)
    if not 1 <= n <= most:
        raise InvalidRequest(f"MaxResults must be between 1 and {most} (got {n})")
    return n
