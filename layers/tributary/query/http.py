"""The query function's HTTP API: ``POST /query`` and ``GET /tables``.

JSON by default; ``Accept: application/vnd.apache.arrow.stream`` returns Arrow IPC.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import orjson
import pyarrow as pa

from tributary.clients import aws_client
from tributary.query.engine import Engine, QueryError, Result
from tributary.settings import get_settings

ARROW = "application/vnd.apache.arrow.stream"
_engine: Engine | None = None


def engine() -> Engine:
    """One engine per warm process; it registers new lake tables as they appear."""
    global _engine
    if _engine is None:
        _engine = Engine(get_settings(), aws_client("s3"), os.environ.get("AWS_ENDPOINT_URL"))
    return _engine


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": orjson.dumps(body, default=str).decode()}


def result_json(r: Result) -> dict[str, Any]:
    return {"columns": [{"name": n, "type": t} for n, t in zip(r.columns, r.types, strict=True)],
            "rows": [list(row) for row in r.rows], "row_count": len(r.rows),
            "truncated": r.truncated, "note": r.note, "elapsed_ms": round(r.elapsed_ms, 2)}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    route = event.get("routeKey", "")
    if route.endswith("/tables"):
        return _json(200, {"tables": engine().tables()})
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        request = orjson.loads(body)
        sql, params = request["sql"], request.get("params") or []
        if not isinstance(sql, str) or not isinstance(params, list):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _json(400, {"error": 'send {"sql": "SELECT ...", "params": [...]} as JSON'})
    wants_arrow = ARROW in (event.get("headers") or {}).get("accept", "")
    try:
        result = engine().run(sql, params, arrow=wants_arrow)
    except QueryError as exc:
        return _json(400, {"error": str(exc)})
    if not wants_arrow:
        return _json(200, result_json(result))
    table: pa.Table = result.extra["arrow"]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return {"statusCode": 200, "isBase64Encoded": True,
            "headers": {"content-type": ARROW, "x-truncated": str(result.truncated).lower()},
            "body": base64.b64encode(sink.getvalue()).decode()}
