"""Persistence around moto's WSGI app: a write is on disk before its answer is sent.

S3 writes are mirrored from moto's resulting state (``s3``); DynamoDB, EventBridge and SQS
queue calls are journaled (``journal``); SQS messages are kept by hooks on moto's queues
(``sqs``). Each mutation and its record happen under one lock per kind, so the disk sees them
in the order moto applied them.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localcloud.persist import journal, s3, sqs
from localcloud.persist.store import DamagedState, StateStore

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_WRITES = ("PUT", "POST", "DELETE")


@dataclass
class Restored:
    journal_calls: int
    objects: int
    messages: int
    seconds: float


def restore(app: WsgiApp, store: StateStore) -> Restored:
    """Bring moto back to what was acknowledged; refuse damaged state, naming it."""
    started = time.perf_counter()
    damaged = store.check_objects()
    if damaged:
        raise DamagedState("the emulator's state is damaged; nothing was started:\n  "
                           + "\n  ".join(damaged[:20])
                           + (f"\n  ... and {len(damaged) - 20} more" if len(damaged) > 20
                              else "")
                           + "\nrestore those files, or throw the state away with "
                             "`tributary stack down --purge`")
    calls = journal.replay(app, store)
    journal.compact(app, store)
    objects = s3.restore(store)
    messages, _ = sqs.restore(store)
    sqs.install(store)
    return Restored(calls, objects, messages, time.perf_counter() - started)


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def persisting(app: WsgiApp, store: StateStore) -> WsgiApp:
    locks = {"s3": threading.Lock(), "journal": threading.Lock()}

    def call(environ: dict[str, Any], start: StartResponse,
             record: Callable[[], None]) -> Iterable[bytes]:
        status: list[str] = []

        def capture(s: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(s)
            return start(s, headers, exc_info) if exc_info else start(s, headers)

        chunks = list(app(environ, capture))  # answered only once recorded
        if status and status[0][:1] == "2":
            record()
        return chunks

    def wrapped(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method not in _WRITES:
            return app(environ, start)
        service, region = journal.scope(environ)
        if service == "s3":
            query = environ.get("QUERY_STRING", "")
            body = _body(environ) if "delete" in query.split("&") else b""
            raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
            host = environ.get("HTTP_HOST", "")

            def mirror() -> None:
                with locks["s3"]:
                    s3.after_write(store, method, host, raw, query, body)

            return call(environ, start, mirror)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if journal.journaled(service, target):
            body = _body(environ)
            with locks["journal"]:
                return call(environ, start,
                            lambda: store.record(f"{service}@{region}", target, body))
        return app(environ, start)

    return wrapped
