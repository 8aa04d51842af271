"""The query function's HTTP API: ``POST /query``, ``GET /tables``, ``GET /query/openapi.json``.

JSON by default; ``Accept: application/vnd.apache.arrow.stream`` returns Arrow IPC.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pyarrow as pa
from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from tributary.api.resolver import answer, binary, error, resolver
from tributary.clients import aws_client
from tributary.query.engine import Engine, QueryError, Result
from tributary.settings import get_settings

ARROW = "application/vnd.apache.arrow.stream"
_engine: Engine | None = None
app = resolver("Tributary query API", "/query")


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000,
                     description="One read-only SELECT over the lake tables and pg.public.*")
    params: list[str | int | float | bool | None] = Field(
        default_factory=list, max_length=1000, description="Values for the ? placeholders.")


def engine() -> Engine:
    """One engine per warm process; it registers new lake tables as they appear."""
    global _engine
    if _engine is None:
        _engine = Engine(get_settings(), aws_client("s3"), os.environ.get("AWS_ENDPOINT_URL"))
    return _engine


def result_json(r: Result) -> dict[str, Any]:
    return {"columns": [{"name": n, "type": t} for n, t in zip(r.columns, r.types, strict=True)],
            "rows": [list(row) for row in r.rows], "row_count": len(r.rows),
            "truncated": r.truncated, "note": r.note, "elapsed_ms": round(r.elapsed_ms, 2)}


@app.get("/tables", summary="The lake tables and PostgreSQL tables, with their columns")
def tables() -> Response[str]:
    return answer(200, {"tables": engine().tables()})


@app.post("/query", summary="Run one read-only SELECT",
          responses={200: {"description": "The rows, as JSON or Arrow IPC"},
                     400: {"description": "The SQL was refused or failed; the message says why"},
                     422: {"description": "The request is not {sql, params}"}})
def query(request: QueryRequest) -> Response[str]:
    wants_arrow = ARROW in (app.current_event.headers or {}).get("accept", "")
    try:
        result = engine().run(request.sql, list(request.params), arrow=wants_arrow)
    except QueryError as exc:
        return error(400, str(exc))
    if not wants_arrow:
        return answer(200, result_json(result))
    table: pa.Table = result.extra["arrow"]
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return binary(ARROW, sink.getvalue(), {"x-truncated": str(result.truncated).lower()})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
