"""One execution environment: a process that imports a handler once and runs invocations.

The parent sends ``(request_id, event_json, deadline_epoch)``; the worker answers
``(ok, payload_json, duration_ms)``. Events and results cross as JSON, as on Lambda, so a
result that is not JSON-serializable fails the way Lambda fails it.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from localcloud.runtime.context import LambdaContext


@dataclass(frozen=True)
class WorkerSpec:
    function_name: str
    function_arn: str
    handler: str
    code_dir: str
    layer_dirs: tuple[str, ...]
    memory_mb: int
    environment: dict[str, str]
    log_file: str


def error_payload(exc: BaseException, error_type: str | None = None) -> bytes:
    return orjson.dumps({
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    })


def _die_with_parent() -> None:
    # A worker must not outlive a killed runtime (nor keep running its handler).
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _redirect_output(log_file: str) -> None:
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _load_handler(spec: WorkerSpec) -> Any:
    # Like /var/task and /opt/python on Lambda: the function's code first, then its layers.
    sys.path[:0] = [spec.code_dir, *spec.layer_dirs]
    module_name, func_name = spec.handler.rsplit(".", 1)
    module = importlib.import_module(module_name)
    return getattr(module, func_name)


_running: list[LambdaContext] = []  # the invocation under way, if any
_GRACE_S = 2  # after the time is up, how long a handler has to end on its own


def _stopping(signum: int, frame: Any) -> None:
    """The runtime is stopping (Lambda's shutdown phase): the invocation's time is up now,
    so a handler that watches its remaining time (the fetch, the live holder) ends cleanly,
    giving up its leases; one that does not is interrupted ``_GRACE_S`` later."""
    for ctx in _running:
        ctx.deadline_epoch = time.time()
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(_GRACE_S)


def _interrupt(signum: int, frame: Any) -> None:
    raise SystemExit("the function runtime is stopping")


def run(spec: WorkerSpec, conn: Connection) -> None:
    _die_with_parent()
    signal.signal(signal.SIGTERM, _stopping)  # the runtime stopping (see ``_stopping``)
    _redirect_output(spec.log_file)
    os.environ.update(spec.environment)
    os.environ["LAMBDA_TASK_ROOT"] = spec.code_dir  # as Lambda sets it: /var/task
    try:
        handler = _load_handler(spec)
        conn.send((True, b"", 0.0))
    except BaseException as exc:  # noqa: BLE001 - reported as Runtime.ImportModuleError
        conn.send((False, error_payload(exc, "Runtime.ImportModuleError"), 0.0))
        return
    while True:
        try:
            request_id, event_json, deadline = conn.recv()
        except (EOFError, OSError):
            return
        ctx = LambdaContext(
            function_name=spec.function_name,
            memory_limit_in_mb=str(spec.memory_mb),
            invoked_function_arn=spec.function_arn,
            aws_request_id=request_id,
            deadline_epoch=deadline,
            log_group_name=f"/aws/lambda/{spec.function_name}",
        )
        started = time.perf_counter()
        _running[:] = [ctx]
        try:
            result = handler(orjson.loads(event_json), ctx)
            try:
                out = (True, orjson.dumps(result), 0.0)
            except TypeError as exc:
                out = (False, error_payload(exc, "Runtime.MarshalError"), 0.0)
        except BaseException as exc:  # noqa: BLE001 - any failure is the invocation's error
            traceback.print_exc()
            out = (False, error_payload(exc), 0.0)
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send((out[0], out[1], (time.perf_counter() - started) * 1000))
