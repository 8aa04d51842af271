"""The AWS emulator daemon: moto server on one port, with Lambda Invoke routed to our runtime.

moto keeps the Lambda control plane (functions, mappings, URLs) but cannot run code here, so
``POST /2015-03-31/functions/<name>/invocations`` is forwarded to the function runtime; that
makes ``awslocal lambda invoke`` return the handler's real result.

Run: ``python -m localcloud.emulator --port 4566 --runtime-url http://127.0.0.1:4580``
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import orjson

from localcloud import moto_fixes
from localcloud.persist import journal
from localcloud.persist import wsgi as persist
from localcloud.persist.store import DamagedState, StateStore

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_FORWARDED_HEADERS = ("X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context")
_RETURNED_HEADERS = ("X-Amz-Function-Error", "X-Amz-Executed-Version", "X-Amz-Log-Result",
                     "X-Amzn-ErrorType", "Content-Type")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _dispatcher() -> WsgiApp:
    """moto's host-based dispatcher, with the host -> backend lookup remembered: uncached it
    lists moto's modules on disk (an ``isdir`` each) on every request, 10% of the emulator's
    CPU during an ingestion."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        known: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self.known:
                self.known[host] = super().get_backend_for_host(host)
            return self.known[host]

    return Dispatcher(create_backend_app)


def _call_name(environ: dict[str, Any]) -> str:
    """``service Operation`` for JSON protocols; for S3 the method (``LIST`` for a listing),
    the bucket and the key's first folder (path-style, as the stack addresses it)."""
    service, _ = journal.scope(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    method = environ.get("REQUEST_METHOD", "")
    listing = method == "GET" and "list-type" in environ.get("QUERY_STRING", "")
    where = "/".join(environ.get("PATH_INFO", "").split("/")[1:3]) if service == "s3" else ""
    return f"{service or 'other'} {'LIST' if listing else method} {where}".rstrip()


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def build_app(runtime_url: str, state_dir: Path | None = None,
              athena_url: str | None = None, sync: bool = True) -> WsgiApp:
    """moto behind our routes; with ``state_dir``, its state restored from there and every
    acknowledged write kept there, durably unless ``sync`` is off (see ``localcloud.persist``)."""
    moto_fixes.apply()
    moto_app = _dispatcher()
    health: dict[str, Any] = {"status": "ok"}
    durability: Callable[[], dict[str, float]] = dict
    if state_dir is not None:
        store = StateStore(state_dir, sync)
        restored = persist.restore(moto_app, store)
        health["restored"] = asdict(restored) | {"state": str(state_dir)}
        moto_app = persist.persisting(moto_app, store)
        durability = store.durability
    calls: Counter[str] = Counter()  # what the stack asks of the emulator, for operators
    cpu: defaultdict[str, float] = defaultdict(float)  # and the CPU seconds each kind took
    client = httpx.Client(base_url=runtime_url, timeout=httpx.Timeout(960.0, connect=2.0))
    athena = httpx.Client(base_url=athena_url or "", timeout=httpx.Timeout(60.0, connect=2.0))

    def respond(start: StartResponse, status: int, body: bytes,
                headers: list[tuple[str, str]]) -> list[bytes]:
        start(f"{status} {httpx.codes.get_reason_phrase(status)}",
              [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_tributary/health":
            body = orjson.dumps(health | {"calls": dict(calls.most_common()),
                                          "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
                                          "durable": durability()})
            return respond(start, 200, body, [("Content-Type", "application/json")])
        name = _call_name(environ)
        calls[name] += 1
        if athena_url and _is_athena(environ):
            return _forward_athena(environ, start, athena, respond)
        match = INVOKE_PATH.match(path)
        if match and environ.get("REQUEST_METHOD") == "POST":
            body = _read_body(environ)
            headers = {
                h: environ[f"HTTP_{h.upper().replace('-', '_')}"]
                for h in _FORWARDED_HEADERS if f"HTTP_{h.upper().replace('-', '_')}" in environ
            }
            try:
                resp = client.post(path, content=body, headers=headers,
                                   params=environ.get("QUERY_STRING") or None)
            except httpx.TransportError as exc:
                msg = orjson.dumps({"Type": "Service", "message":
                                    f"function runtime unreachable at {runtime_url}: {exc}"})
                return respond(start, 502, msg, [("Content-Type", "application/json"),
                                                 ("X-Amzn-ErrorType", "ServiceException")])
            out = [(h, resp.headers[h]) for h in _RETURNED_HEADERS if h in resp.headers]
            return respond(start, resp.status_code, resp.content, out)
        began = time.thread_time()
        result: Iterable[bytes] = moto_app(environ, start)
        cpu[name] += time.thread_time() - began
        return result

    return app


def _is_athena(environ: dict[str, Any]) -> bool:
    """JSON 1.1 names Athena in its target; REST-JSON only in the SigV4 credential scope (as
    moto tells its own REST services apart)."""
    return (environ.get("HTTP_X_AMZ_TARGET", "").startswith("AmazonAthena.")
            or journal.scope(environ)[0] == "athena")


# Not forwarded: the connection's own, which httpx sets for the hop to the Athena service.
_HOP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


def _forward_athena(environ: dict[str, Any], start: StartResponse, athena: httpx.Client,
                    respond: Callable[..., list[bytes]]) -> list[bytes]:
    """Athena's calls go to the Athena service (moto's Athena answers every query empty),
    as they came: the path still percent-encoded (a REST path's labels may hold a ``/``)."""
    headers = {key[5:].replace("_", "-"): value for key, value in environ.items()
               if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    raw = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
    target = raw.split("?", 1)[0] + (f"?{environ['QUERY_STRING']}"
                                     if environ.get("QUERY_STRING") else "")
    try:
        resp = athena.request(environ.get("REQUEST_METHOD", "POST"), target,
                              content=_read_body(environ),
                              headers={k: v for k, v in headers.items()
                                       if k.lower() not in _HOP_HEADERS})
    except httpx.TransportError as exc:
        body = orjson.dumps({"__type": "InternalServerException",
                             "Message": f"the Athena service is unreachable: {exc}"})
        return respond(start, 500, body, [("Content-Type", "application/x-amz-json-1.1"),
                                          ("X-Amzn-ErrorType", "InternalServerException")])
    return respond(start, resp.status_code, resp.content,
                   [(h, resp.headers[h]) for h in ("Content-Type", "X-Amzn-ErrorType")
                    if h in resp.headers])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--runtime-url", default="http://127.0.0.1:4580")
    parser.add_argument("--athena-url", default=None,
                        help="The Athena service (default: moto's own, which runs nothing).")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="Keep all state here (default: in memory only).")
    parser.add_argument("--unsafe-no-fsync", action="store_true",
                        help="Acknowledge writes before they are on disk. Only for the crash "
                             "harness's negative control: a power cut then loses them.")
    args = parser.parse_args()

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    # No line per request: formatting them (through colorama) was 11% of the emulator's CPU.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    try:
        app = build_app(args.runtime_url, args.state_dir, args.athena_url,
                        sync=not args.unsafe_no_fsync)
    except DamagedState as exc:
        print(exc, file=sys.stderr, flush=True)
        sys.exit(3)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
