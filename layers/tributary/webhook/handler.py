"""The webhook's HTTP handling: size, signature, validation, then keep-and-acknowledge."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from tributary.clients import pg_shared
from tributary.log import get_logger
from tributary.settings import get_settings
from tributary.webhook import inbox, signature
from tributary.webhook.models import BadPayload, parse

log = get_logger("webhook")
def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": orjson.dumps(body).decode()}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    if len(body) > settings.webhook_max_body_bytes:
        return _answer(413, {"message": f"payload too large: {len(body)} bytes, at most "
                                        f"{settings.webhook_max_body_bytes}"})
    secret = settings.webhook_signing_secret.get_secret_value() \
        if settings.webhook_signing_secret else ""
    if secret:  # an empty secret (the template's default) means no signatures
        try:
            signature.verify(secret, body,
                             (event.get("headers") or {}).get(signature.HEADER),
                             settings.webhook_signature_tolerance_s)
        except signature.BadSignature as exc:
            return _answer(401, {"message": str(exc)})
    try:
        payload = parse(body)
    except BadPayload as exc:
        return _answer(400, {"message": str(exc)})
    kept = [e for e in payload.events if e.event_type != "signup"]
    dropped = len(payload.events) - len(kept)
    conn = pg_shared()
    inbox.ensure_schema(conn)
    new = inbox.keep(conn, kept)  # durable (committed) before we answer
    return _answer(200, {"accepted": new, "duplicates": len(kept) - new, "dropped": dropped})
