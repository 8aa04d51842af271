"""The live copy over HTTP (what the viewer reads): rows around a time, and a histogram.

- ``GET /live/rows?t=<epoch s>&dir=after|before&key=<id>&limit=&q=``: live rows after (or
  before) ``(t, key)`` in time order, by keyset on the time index (never OFFSET); ``next`` /
  ``prev`` are the keys to go on from. ``q`` filters text columns (case-insensitive).
- ``GET /live/histogram?buckets=&q=``: live rows per time bucket over the whole range, to
  jump anywhere in time.
Both answer ``seq``: the change number they are as of, so the WebSocket API can go on from
there (``subscribe`` with ``after: seq``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from tributary.api.resolver import answer, documented, error, resolver
from tributary.live.copy import LocalCopy
from tributary.settings import get_settings
from tributary.sources import loader

app = resolver("Tributary live rows API", "/live")
_ERRORS = {404: "No such live stream (with several, name one with stream=<source>/<stream>)",
           503: "The live copy is not there yet (its source is paused, or its holder has not "
                "made it)"}


class Point(BaseModel):
    t: int = Field(description="Epoch seconds")
    key: Any = Field(description="The row's primary key")


class Rows(BaseModel):
    seq: int = Field(description="The change number these rows are as of")
    rows: list[dict[str, Any]] = Field(description="Live rows, oldest first; their time "
                                                   "column in epoch seconds")
    prev: Point | None = Field(description="Where to go on backwards from")
    next: Point | None = Field(description="Where to go on forwards from")
    more: bool


class Histogram(BaseModel):
    seq: int
    start: int | None = Field(description="Epoch seconds of the first bucket")
    stop: int | None
    bucket_s: int
    counts: list[int]
_conn: psycopg.Connection[Any] | None = None
FIRST_KEY = -(2**63)  # below every key: (t, FIRST_KEY) is the start of second t


def _reader() -> psycopg.Connection[Any]:
    """The read-only role's connection, kept warm and replaced if it broke."""
    global _conn
    if _conn is None or _conn.closed or _conn.broken:
        _conn = psycopg.connect(get_settings().reader_dsn)
    return _conn


def _copy(stream: str | None) -> LocalCopy | None:
    live = loader.live_sources()
    for name, src in live.items():
        full = f"{name}/{src.stream.name}"
        if stream in (None, full) and (stream or len(live) == 1):
            return LocalCopy(src.stream, full)
    return None


@app.get("/live/rows", summary="Live rows after or before a point in time (keyset)",
         responses=documented(200, Rows, "The rows", _ERRORS))
def rows(t: Annotated[int, Query(description="Epoch seconds")],
         direction: Annotated[Literal["after", "before"], Query(alias="dir")] = "after",
         key: Annotated[int, Query(description="Go on after/before this key at t")] = FIRST_KEY,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
         q: Annotated[str | None, Query(max_length=200)] = None,
         stream: Annotated[str | None, Query()] = None) -> Response[str]:
    copy = _copy(stream)
    if copy is None:
        return error(404, f"no live stream {stream!r}")
    forward = direction == "after"
    seq, found = copy.rows_near(_reader(), t, key, forward, limit, q)
    first, last = (found[0], found[-1]) if found else (None, None)
    tc, k = copy.s.time_column, copy.s.primary_key
    return answer(200, {
        "seq": seq, "rows": found,
        "prev": {"t": first[tc], "key": first[k]} if first else None,
        "next": {"t": last[tc], "key": last[k]} if last else None,
        "more": len(found) == limit})


@app.get("/live/histogram", summary="Live rows per time bucket over the whole range",
         responses=documented(200, Histogram, "Rows per bucket", _ERRORS))
def histogram(buckets: Annotated[int, Query(ge=1, le=2000)] = 200,
              q: Annotated[str | None, Query(max_length=200)] = None,
              stream: Annotated[str | None, Query()] = None) -> Response[str]:
    copy = _copy(stream)
    if copy is None:
        return error(404, f"no live stream {stream!r}")
    return answer(200, copy.histogram(_reader(), buckets, q))


@app.exception_handler(psycopg.errors.UndefinedTable)  # type: ignore[untyped-decorator]
def _not_copied_yet(exc: psycopg.errors.UndefinedTable) -> Response[str]:
    """Before the first holder made the copy, there is nothing to read: say so (was a 500)."""
    if _conn is not None and not _conn.closed:
        _conn.rollback()
    return error(503, "the live copy is not there yet: its holder has not made it (a paused "
                      "source is not copied: `tributary resume <source>`)")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
