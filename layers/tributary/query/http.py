"""The query function's HTTP API: ``POST /query``, ``GET /tables``, ``GET /query/openapi.json``.

JSON by default; ``Accept: application/vnd.apache.arrow.stream`` returns Arrow IPC.
"""

from __future__ import annotations

import io
import os
from typing import Any, Literal

import pyarrow as pa
from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from tributary.api.resolver import answer, binary, documented, error, resolver
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


class Column(BaseModel):
    name: str
    type: str = Field(description="The SQL type, as DuckDB names it")


class QueryResult(BaseModel):
    columns: list[Column]
    rows: list[list[Any]] = Field(description="Each row's values, in the columns' order")
    row_count: int
    truncated: bool = Field(description="More rows matched than the answer holds")
    note: str | None = Field(description="Why the answer is partial, when it is")
    elapsed_ms: float


class Table(BaseModel):
    name: str = Field(description="A lake table, or pg.public.<table> for PostgreSQL's")
    source: Literal["lake", "postgres"]
    columns: list[Column]


class Skipped(BaseModel):
    name: str = Field(description="A top-level prefix of the lake bucket")
    reason: str = Field(description="Why no query can read it as a table")


class Tables(BaseModel):
    tables: list[Table]
    skipped: list[Skipped] = Field(description="Lake prefixes that are no table (no Delta "
                                   "log, no Parquet: an Athena output location, stray files) "
                                   "or that cannot be read now")


_ARROW_BODY = {ARROW: {"schema": {"type": "string", "format": "binary"}}}


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


@app.get("/tables", summary="The lake tables and PostgreSQL tables, with their columns",
         responses=documented(200, Tables, "Every table a query can read"))
def tables() -> Response[str]:
    found = engine().tables()
    return answer(200, {"tables": found, "skipped": engine().skipped})


@app.post("/query", summary="Run one read-only SELECT",
          responses=documented(
              200, QueryResult, "The rows, as JSON, or as Arrow IPC when asked for with "
              f"Accept: {ARROW} (then the header x-truncated says whether rows were left out)",
              {400: "The SQL was refused (not one read-only SELECT) or failed; the message "
                    "says why. Any text is valid SQL as far as this document can tell",
               422: "The request is not {sql, params}"}, also=_ARROW_BODY))
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
