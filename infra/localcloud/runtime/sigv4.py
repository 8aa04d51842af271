"""AWS Signature Version 4 checked the way AWS checks it, with botocore's own signer: the
request is signed again with the stack's credentials over the headers the client signed,
and the signatures must match. Used for function URLs whose ``AuthType`` is ``AWS_IAM``."""

from __future__ import annotations

import hmac
import time
from calendar import timegm

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW_S = 300


def problem(method: str, url: str, headers: dict[str, str], body: bytes, key_id: str,
            secret: str, region: str, service: str = "lambda") -> str | None:
    """Why the request is not signed by ``key_id``; None when it is."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "missing AWS Signature Version 4 authorization"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(",")
                  if "=" in p)
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or not hmac.compare_digest(scope[0], key_id):
        return "the security token included in the request is invalid"
    stamp = headers.get("x-amz-date", "")
    try:
        skew = abs(time.time() - timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if skew > MAX_SKEW_S:
        return "signature expired"
    signed = fields.get("SignedHeaders", "").split(";")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={h: headers.get(h, "") for h in signed})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secret), scope[3] or service, scope[2] or region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        return "the request signature does not match"
    return None
