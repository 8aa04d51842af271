"""The webhook's HTTP API: size, signature, validation, then keep-and-acknowledge.

``POST /webhook/events`` and ``GET /webhook/openapi.json``.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from pydantic import BaseModel, Field

from tributary.api.resolver import answer, documented, error, resolver
from tributary.clients import pg_shared
from tributary.log import get_logger
from tributary.settings import get_settings
from tributary.webhook import inbox, signature
from tributary.webhook.models import BadPayload, Payload, parse

log = get_logger("webhook")
app = resolver("Tributary webhook", "/webhook", authorized=False)


class Received(BaseModel):
    accepted: int = Field(description="New events, kept before this answer")
    duplicates: int = Field(description="Events already kept (by event_id)")
    dropped: int = Field(description="Events of a type not kept (signup)")


# Validated by hand, not by the resolver: the size and the signature are checked before the
# body is parsed at all. The parameter is there so the OpenAPI document describes the body.
@app.post("/webhook/events", enable_validation=False, summary="Push events (all or nothing)",
          responses=documented(200, Received, "Every event kept (or a duplicate), or none", {
              400: "A bad payload; the message names the event and field",
              401: "A missing, wrong or stale X-Hallow-Signature (when the stack has a "
                   "signing secret)",
              413: "The body is larger than the limit"}))
def receive(payload: Annotated[Payload, Body()] = None,  # type: ignore[assignment]
            signed: Annotated[str | None, Header(
                alias=signature.HEADER, description="t=<epoch s>,v1=<hex HMAC-SHA256 of "
                "'<t>.<body>'>, when the stack has a signing secret")] = None) -> Response[str]:
    event = app.current_event
    raw = event.get("body") or ""
    return _receive(base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode(),
                    event.headers or {})


def _receive(body: bytes, headers: dict[str, str]) -> Response[str]:
    settings = get_settings()
    if len(body) > settings.webhook_max_body_bytes:
        return error(413, f"payload too large: {len(body)} bytes, at most "
                          f"{settings.webhook_max_body_bytes}")
    secret = settings.webhook_signing_secret.get_secret_value() \
        if settings.webhook_signing_secret else ""
    if secret:  # an empty secret (the template's default) means no signatures
        try:
            signature.verify(secret, body, headers.get(signature.HEADER),
                             settings.webhook_signature_tolerance_s)
        except signature.BadSignature as exc:
            return error(401, str(exc))
    try:
        payload = parse(body)
    except BadPayload as exc:
        return error(400, str(exc))
    kept = [e for e in payload.events if e.event_type != "signup"]
    dropped = len(payload.events) - len(kept)
    conn = pg_shared()
    inbox.ensure_schema(conn)
    new = inbox.keep(conn, kept)  # durable (committed) before we answer
    return answer(200, {"accepted": new, "duplicates": len(kept) - new, "dropped": dropped})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
