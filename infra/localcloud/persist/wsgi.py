"""Persistence around moto's WSGI app: a write is durably on disk before its answer is sent.

S3 writes are mirrored from moto's resulting state (``s3``); DynamoDB, EventBridge, SQS
queue and Secrets Manager calls are journaled (``journal``); SQS messages are kept by hooks on
moto's queues (``sqs``). Each change is handed to the store's group commit under one lock per
kind, so the disk sees changes in the order moto applied them, and waited for outside it, so
concurrent requests share their fsyncs.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localcloud.persist import journal, s3, sqs
from localcloud.persist.store import StateStore, damaged

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_WRITES = ("PUT", "POST", "DELETE")


@dataclass
class Restored:
    journal_calls: int
    objects: int
    messages: int
    orphans: int  # object files of writes never acknowledged, removed
    seconds: float


def restore(app: WsgiApp, store: StateStore) -> Restored:
    """Bring moto back to what was acknowledged; refuse damaged state, naming it."""
    started = time.perf_counter()
    problems = store.check_objects()
    if problems:
        raise damaged("\n  ".join(problems[:20])
                      + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))
    orphans = store.remove_orphans()
    calls = journal.replay(app, store)
    journal.compact(app, store)
    objects = s3.restore(store)
    messages, _ = sqs.restore(store)
    sqs.install(store)
    return Restored(calls, objects, messages, orphans, time.perf_counter() - started)


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _answer(app: WsgiApp, environ: dict[str, Any], start: StartResponse) \
        -> tuple[list[bytes], bool]:
    """moto's answer, held back (the caller sends it once the change is kept), and whether
    the call succeeded."""
    status: list[str] = []

    def capture(s: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(s)
        return start(s, headers, exc_info) if exc_info else start(s, headers)

    chunks = list(app(environ, capture))
    return chunks, bool(status) and status[0][:1] == "2"


def persisting(app: WsgiApp, store: StateStore) -> WsgiApp:
    s3_lock, journal_lock = threading.Lock(), threading.Lock()

    def mirror_s3(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        body = _body(environ) if "delete" in query.split("&") else b""
        chunks, ok = _answer(app, environ, start)
        if ok:
            raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
            for ticket in s3.after_write(store, s3_lock, environ["REQUEST_METHOD"],
                                         environ.get("HTTP_HOST", ""), raw, query, body):
                ticket.wait()
        return chunks

    def journaling(environ: dict[str, Any], start: StartResponse, service: str,
                   region: str, target: str) -> Iterable[bytes]:
        body = _body(environ)
        with journal_lock:  # the journal holds the calls in the order moto applied them
            chunks, ok = _answer(app, environ, start)
            ticket = store.record(f"{service}@{region}", target, body) if ok else None
        if ticket is not None:
            ticket.wait()
        return chunks

    def wrapped(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "") not in _WRITES:
            return app(environ, start)
        service, region = journal.scope(environ)
        if service == "s3":
            return mirror_s3(environ, start)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if journal.journaled(service, target):
            return journaling(environ, start, service, region, target)
        return app(environ, start)

    return wrapped
