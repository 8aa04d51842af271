"""Per-function pools of worker processes: concurrency, timeouts, memory, cold starts.

Each worker is a separate process, so independent invocations run in parallel on every core.
A worker that times out, exceeds its memory or dies is killed and replaced, and the error is
reported the way Lambda reports it; the pool keeps serving.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import orjson
import psutil

from localcloud.runtime import worker
from localcloud.template import Function

_SPAWN = multiprocessing.get_context("spawn")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
_MEMORY_CHECK_EVERY_S = 0.2
_WAITING_TICK_S = 0.2  # how often a caller waiting for a slot hears of it (``while_waiting``)


class Throttled(RuntimeError):
    """No concurrency left for the function within the wait allowed (Lambda's 429)."""


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    error: str | None  # None on success, else Lambda's X-Amz-Function-Error ("Unhandled")
    duration_ms: float
    cold_start: bool
    request_id: str

    def json(self) -> Any:
        return orjson.loads(self.payload) if self.payload else None


@dataclass
class PoolStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    cold_starts: int = 0
    throttles: int = 0
    durations_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    init_ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))  # cold starts

    def as_dict(self) -> dict[str, Any]:
        d, i = list(self.durations_ms), list(self.init_ms)
        return {"invocations": self.invocations, "errors": self.errors,
                "timeouts": self.timeouts, "cold_starts": self.cold_starts,
                "throttles": self.throttles, "duration_ms_p50": percentile(d, 0.5),
                "duration_ms_p99": percentile(d, 0.99), "init_ms_p50": percentile(i, 0.5),
                "init_ms_max": max(i, default=None)}


def percentile(values: list[float], p: float) -> float | None:
    """The ``p`` quantile (nearest rank) of ``values``, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


def _acquire(slots: threading.Semaphore, wait_s: float | None,
             while_waiting: Callable[[], bool] | None) -> bool:
    """``slots.acquire(timeout=wait_s)``, calling ``while_waiting`` every ``_WAITING_TICK_S``
    meanwhile and giving up when it answers False."""
    if while_waiting is None:
        return slots.acquire(timeout=wait_s)
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while True:
        tick = _WAITING_TICK_S if deadline is None else \
            min(_WAITING_TICK_S, max(0.0, deadline - time.monotonic()))
        if slots.acquire(timeout=tick):
            return True
        if (deadline is not None and time.monotonic() >= deadline) or not while_waiting():
            return False


def _error(message: str, error_type: str) -> bytes:
    return orjson.dumps({"errorMessage": message, "errorType": error_type})


class Environment(Protocol):
    """A live execution environment: the in-process worker below (the checkout's code), or
    a built artifact speaking the Lambda Runtime API (``api_environment.py``)."""

    ps: psutil.Process

    @property
    def exitcode(self) -> int | None: ...

    def send(self, request_id: str, event_json: bytes, deadline: float) -> None: ...

    def wait(self, deadline: float, memory_mb: int | None
             ) -> tuple[bool, bytes, float] | str: ...

    def kill(self) -> None: ...


class _Worker:
    """A live execution environment (one process) and the pipe to it."""

    def __init__(self, spec: worker.WorkerSpec) -> None:
        parent, child = _SPAWN.Pipe()
        self.proc = _SPAWN.Process(target=worker.run, args=(spec, child),
                                   name=f"fn-{spec.function_name}", daemon=True)
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.ps = psutil.Process(self.proc.pid)

    @property
    def exitcode(self) -> int | None:
        return self.proc.exitcode

    def send(self, request_id: str, event_json: bytes, deadline: float) -> None:
        self.conn.send((request_id, event_json, deadline))

    def wait(self, deadline: float, memory_mb: int | None) -> tuple[bool, bytes, float] | str:
        """The worker's answer, or why none came: 'timeout', 'memory' or 'died'."""
        next_check = 0.0
        while True:
            now = time.time()
            if now >= deadline:
                return "timeout"
            try:
                if self.conn.poll(min(_MEMORY_CHECK_EVERY_S, deadline - now)):
                    answer: tuple[bool, bytes, float] = self.conn.recv()
                    return answer
            except (EOFError, OSError):
                return "died"
            if not self.proc.is_alive():
                return "died"
            if memory_mb and now >= next_check:
                next_check = now + _MEMORY_CHECK_EVERY_S
                try:
                    if self.ps.memory_info().rss > memory_mb * 1024 * 1024:
                        return "memory"
                except psutil.NoSuchProcess:
                    return "died"

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class FunctionPool:
    def __init__(self, fn: Function, environment: dict[str, str], log_dir: Path,
                 account_slots: threading.BoundedSemaphore, default_concurrency: int,
                 start: Callable[[], Environment] | None = None) -> None:
        """``start`` makes an execution environment; default: a worker process running the
        handler from the checkout."""
        self.fn = fn
        self.concurrency = fn.reserved_concurrency or default_concurrency
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._account = account_slots
        self._idle: list[Environment] = []
        self._live: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.stats = PoolStats()
        self._spec = worker.WorkerSpec(
            function_name=fn.name,
            function_arn=f"arn:aws:lambda:{environment.get('AWS_REGION', 'us-east-1')}:"
                         f"123456789012:function:{fn.name}",
            handler=fn.handler,
            code_dir=str(fn.code_dir),
            layer_dirs=tuple(str(p) for p in fn.layer_dirs),
            memory_mb=fn.memory_mb,
            environment=environment,
            log_file=str(log_dir / f"{fn.name}.log"),
        )
        self._start: Callable[[], Environment] = start or (lambda: _Worker(self._spec))

    # -- public ---------------------------------------------------------------------------------
    def invoke(self, event: Any, *, wait_s: float | None = None, request_id: str | None = None,
               while_waiting: Callable[[], bool] | None = None) -> InvokeResult:
        """Run the handler once; blocks for a free slot up to ``wait_s`` (None: forever).
        ``while_waiting`` is called every ``_WAITING_TICK_S`` of that wait (an SQS poller
        keeps what it holds hidden meanwhile); when it answers False the caller gives up
        (``Throttled``). ``wait_s`` bounds the wait for the function's own concurrency only:
        the account's is waited for without limit."""
        request_id = request_id or str(uuid.uuid4())
        if not _acquire(self._slots, wait_s, while_waiting):
            self.stats.throttles += 1
            raise Throttled(f"Rate Exceeded: {self.fn.name} is at its concurrency "
                            f"limit of {self.concurrency}")
        try:
            if not _acquire(self._account, None, while_waiting):
                self.stats.throttles += 1
                raise Throttled(f"{self.fn.name}: the caller gave up waiting for the "
                                "account's concurrency")
            try:
                return self._run(orjson.dumps(event), request_id)
            finally:
                self._account.release()
        finally:
            self._slots.release()

    def has_capacity(self, wait_s: float) -> bool:
        """Whether an invocation could start now, waiting up to ``wait_s`` for the function's
        and the account's slots without keeping them: an SQS poller receives only what a
        worker can take, since each receive counts toward the queue's maxReceiveCount. Not a
        reservation (a synchronous caller may take the slot first, see ``while_waiting``):
        held while the poller long-polls an empty queue, a slot would starve direct callers
        of the function, and every other function of the account's concurrency."""
        deadline = time.monotonic() + wait_s
        for slots in (self._slots, self._account):
            if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return False
            slots.release()
        return True

    def pids(self) -> list[int]:
        """Every live worker process of this function, idle or busy."""
        with self._lock:
            return sorted(self._live)

    def prewarm(self) -> None:
        """Start one environment ahead of the first invocation (a provisioned instance)."""
        try:
            w, err = self._start_worker()
        except Exception:  # noqa: BLE001 - the first invoke will report the cause
            return
        if err is None:
            self._release(w)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            self._forget(w)

    def interrupt(self) -> list[int]:
        """SIGTERM every busy worker (after ``close``): its handler's time is up, so it ends
        on its own and gives up its leases, or with an exception soon after (see
        ``worker._stopping``). Returns their pids."""
        busy = self.pids()
        for pid in busy:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        return busy

    # -- internals ------------------------------------------------------------------------------
    def _start_worker(self) -> tuple[Environment, InvokeResult | None]:
        started = time.perf_counter()
        w = self._start()
        with self._lock:
            self._live.add(w.ps.pid)
        answer = w.wait(time.time() + max(INIT_TIMEOUT_S, self.fn.timeout_s), None)
        if isinstance(answer, tuple) and answer[0]:
            self.stats.init_ms.append((time.perf_counter() - started) * 1000)
            return w, None
        self._forget(w)
        payload = (answer[1] if isinstance(answer, tuple)
                   else _error(f"init phase failed: {answer}", "Runtime.InitError"))
        return w, InvokeResult(payload, "Unhandled", 0.0, True, "")

    def _forget(self, w: Environment) -> None:
        w.kill()
        with self._lock:
            self._live.discard(w.ps.pid)

    def _acquire_worker(self) -> tuple[Environment | None, InvokeResult | None, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), None, False
        self.stats.cold_starts += 1
        w, err = self._start_worker()
        return (None, err, True) if err else (w, None, True)

    def _release(self, w: Environment) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(w)
                return
        self._forget(w)

    def _run(self, event_json: bytes, request_id: str) -> InvokeResult:
        self.stats.invocations += 1
        started = time.perf_counter()
        w, init_error, cold = self._acquire_worker()
        if w is None:
            self.stats.errors += 1
            assert init_error is not None
            return InvokeResult(init_error.payload, "Unhandled", 0.0, True, request_id)
        deadline = time.time() + self.fn.timeout_s
        try:
            w.send(request_id, event_json, deadline)
            answer = w.wait(deadline, self.fn.memory_mb)
        except (BrokenPipeError, OSError):
            answer = "died"
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(answer, tuple):
            self._release(w)
            ok, payload, duration = answer
            self.stats.durations_ms.append(duration)
            if not ok:
                self.stats.errors += 1
            return InvokeResult(payload, None if ok else "Unhandled", duration, cold, request_id)
        self._forget(w)
        self.stats.errors += 1
        if answer == "timeout":
            self.stats.timeouts += 1
            payload = _error(f"{request_id} Task timed out after {self.fn.timeout_s:.2f} seconds",
                             "Sandbox.Timedout")
        elif answer == "memory":
            payload = _error(f"RequestId: {request_id} Error: Runtime exited with error: "
                             f"signal: killed (memory limit of {self.fn.memory_mb} MB exceeded)",
                             "Runtime.OutOfMemory")
        else:
            payload = _error(f"RequestId: {request_id} Error: Runtime exited with error: "
                             f"exit code {w.exitcode}", "Runtime.ExitError")
        return InvokeResult(payload, "Unhandled", elapsed, cold, request_id)
