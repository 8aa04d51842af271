"""The Lambda Runtime API (2018-06-01) for one execution environment.

What a built function runs under (``stack up --from-build``) is the runtime interface client
AWS ships (``awslambdaric`` for a zip function, the image's own entrypoint for an image
function), so it is served the API Lambda serves: ``GET /runtime/invocation/next`` hands it
an event, ``POST .../<id>/response`` or ``.../<id>/error`` returns the outcome,
``POST /runtime/init/error`` reports a handler that could not be loaded. Its first ``next``
means the init phase is over.
"""

from __future__ import annotations

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    """One environment's API on 127.0.0.1 (``address`` is ``AWS_LAMBDA_RUNTIME_API``)."""

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        self.ready = threading.Event()  # the client asked for its first event
        self.invocations: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        # (ok, payload) per invocation; (False, payload) from init/error too
        self.outcomes: queue.Queue[tuple[bool, bytes]] = queue.Queue()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="runtime-api").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def submit(self, request_id: str, event_json: bytes, deadline_epoch: float) -> None:
        self.invocations.put((request_id, event_json, deadline_epoch))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            return  # the function's own log says what happened

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                return self._answer(404, b'{"errorMessage": "unknown path"}')
            api.ready.set()
            request_id, event, deadline = api.invocations.get()
            self._answer(200, event, {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-00000000-{request_id.replace('-', '')[:24]}",
            })

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == f"{PREFIX}/init/error":
                api.outcomes.put((False, body))
            elif self.path.startswith(f"{PREFIX}/invocation/") and \
                    self.path.endswith(("/response", "/error")):
                api.outcomes.put((self.path.endswith("/response"), body))
            else:
                return self._answer(404, b'{"errorMessage": "unknown path"}')
            self._answer(202, b'{"status": "OK"}')

        def _answer(self, status: int, body: bytes,
                    headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
