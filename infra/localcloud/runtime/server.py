"""The function runtime daemon: pools, SQS pollers, scheduler and HTTP, all from the template.

Run: ``python -m localcloud.runtime`` (settings from ``TRIBUTARY_*``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from localcloud.config import (
    emulator_client,
    function_environment,
    lambda_environment,
    load_stack,
)
from localcloud.runtime import sigv4
from localcloud.runtime.built import starter
from localcloud.runtime.http import (
    MAX_PAYLOAD_BYTES,
    CompiledRoute,
    apigw_event,
    apigw_response,
    aws_error,
    compile_route,
    invoke_api_response,
    match_route,
)
from localcloud.runtime.pool import Environment, FunctionPool, Throttled, percentile
from localcloud.runtime.schedule import Scheduler
from localcloud.runtime.sqs import SqsPoller
from localcloud.runtime.websocket import FunctionFailed, Gateway
from localcloud.template import Function
from tributary.log import get_logger
from tributary.settings import Settings, get_settings

log = get_logger("runtime")
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice
_SYNC_WAIT_S = 10.0  # how long a synchronous call queues for a free slot before 429


async def _not_found(request: Request, exc: Exception) -> Response:
    """A path no route can match (a newline in it, say) gets API Gateway's JSON answer, not
    Starlette's plain text."""
    return JSONResponse({"message": "Not Found"}, status_code=404)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.template = load_stack(settings)
        self.started_at = time.time()
        self.stop = threading.Event()
        self.sqs_latency_ms: deque[float] = deque(maxlen=5000)
        account = threading.BoundedSemaphore(settings.runtime_max_concurrency)
        log_dir = settings.home_dir / "logs" / "functions"
        self.pools = {
            fn.name: FunctionPool(fn, function_environment(fn, settings), log_dir, account,
                                  settings.runtime_default_concurrency,
                                  self._built(fn, log_dir) if settings.runtime_from_build
                                  else None)
            for fn in self.template.functions
        }
        sqs = emulator_client("sqs", settings)
        self.pollers = [
            SqsPoller(t, self.pools[fn.name], sqs, settings.region, self.stop, self.sqs_latency_ms)
            for fn in self.template.functions for t in fn.sqs
        ]
        self.scheduler = Scheduler(self.template.functions, emulator_client("events", settings),
                                   settings.region, settings.schedule_scale, self.invoke_async,
                                   self.stop)
        self.routes: list[CompiledRoute] = [
            compile_route(fn, r) for fn in self.template.functions for r in fn.routes
        ]
        self._async = ThreadPoolExecutor(max_workers=16, thread_name_prefix="async-invoke")
        self._async_ids = itertools.count()
        self._async_lock = threading.Lock()
        self._unfinished: dict[int, tuple[str, dict[str, Any], str | None]] = {}
        self._active = 0  # asynchronous invocations running now
        self._interrupted = settings.home_dir / "run" / "runtime-interrupted.json"
        self.gateway = Gateway(self.template.sockets, self._invoke_json, settings.region,
                               f"{settings.host}:{settings.runtime_port}")

    def _built(self, fn: Function, log_dir: Path) -> Callable[[], Environment]:
        """Environments of ``fn``'s built artifact instead of the checkout's code."""
        return starter(fn, self.settings.home_dir / "build",
                       lambda_environment(fn, self.settings), str(log_dir / f"{fn.name}.log"),
                       fn.arn)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.runtime_prewarm:  # one at a time: a storm of imports starves requests
            threading.Thread(target=self._prewarm, daemon=True, name="prewarm").start()
        for poller in self.pollers:
            poller.start()
        self.scheduler.start()
        self._resume_interrupted()
        log.info("runtime started", extra={"functions": sorted(self.pools),
                                           "template": str(self.template.path)})

    def _prewarm(self) -> None:
        for pool in self.pools.values():
            if self.stop.is_set():
                return
            pool.prewarm()

    def shutdown(self) -> None:
        """A clean stop leaves nothing to wait out a timeout: held SQS messages go back to
        their queues at once, busy handlers are interrupted (SIGTERM: a live holder gives up
        its lease), and asynchronous invocations accepted but not finished are kept, to run
        again as the runtime starts (Lambda's at-least-once). A crash still relies on the
        visibility timeout and the next schedule, as on AWS."""
        self.stop.set()
        with self._async_lock:
            unfinished = list(self._unfinished.values())
        self._interrupted.parent.mkdir(parents=True, exist_ok=True)
        self._interrupted.write_bytes(orjson.dumps(unfinished))
        released = sum(p.release() for p in self.pollers)
        self._async.shutdown(wait=False, cancel_futures=True)
        busy = []
        for pool in self.pools.values():
            pool.close()
            busy += pool.interrupt()
        deadline = time.monotonic() + 5.0
        for poller in self.pollers:  # a long poll under way gives back what it gets
            poller.join(deadline)
        while self._active and time.monotonic() < deadline:  # handlers end their turn
            time.sleep(0.05)
        released += sum(p.release() for p in self.pollers)
        log.info("runtime stopped", extra={"released_messages": released,
                                           "interrupted_handlers": len(busy),
                                           "kept_async_invocations": len(unfinished)})

    def _resume_interrupted(self) -> None:
        """Run again what the last clean stop interrupted (see ``shutdown``)."""
        if not self._interrupted.exists():
            return
        kept = orjson.loads(self._interrupted.read_bytes())
        self._interrupted.unlink()
        for name, event, rule in kept:
            pool = self.pools.get(name)
            # a schedule paused meanwhile (a paused source) is not run again
            if pool is not None and (rule is None or self.scheduler.enabled(rule)):
                self.invoke_async(pool.fn, event, rule)
        if kept:
            log.info("interrupted invocations started again", extra={"count": len(kept)})

    # -- invocation -----------------------------------------------------------------------------
    def pool(self, name_or_arn: str) -> FunctionPool | None:
        # Accept a name, an ARN, or either with a :qualifier, as Lambda does.
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        return self.pools.get(name)

    def invoke_async(self, fn: Function, event: dict[str, Any], rule: str | None = None) -> None:
        """Run ``fn`` once with Lambda's async retries; ``rule``: the schedule that fired it."""
        key = next(self._async_ids)
        with self._async_lock:
            self._unfinished[key] = (fn.name, event, rule)

        def run() -> None:
            with self._async_lock:
                self._active += 1
            try:
                for attempt in range(ASYNC_RETRIES + 1):
                    if self.stop.is_set():
                        return
                    result = self.pools[fn.name].invoke(event)
                    if not result.error:
                        return
                    log.warning("async invocation failed", extra={
                        "function": fn.name, "attempt": attempt + 1, "error": result.json()})
                    self.stop.wait(attempt + 1.0)
            finally:
                with self._async_lock:
                    self._unfinished.pop(key, None)
                    self._active -= 1

        self._async.submit(run)

    async def _invoke_json(self, name: str, event: dict[str, Any]) -> Any:
        """Run a function for the WebSocket gateway; its answer, or FunctionFailed."""
        pool = self.pools[name]
        try:
            result = await anyio.to_thread.run_sync(
                lambda: pool.invoke(event, wait_s=_SYNC_WAIT_S))
        except Throttled as exc:
            raise FunctionFailed(str(exc)) from exc
        if result.error:
            raise FunctionFailed(result.error)
        return result.json()

    def stats(self) -> dict[str, Any]:
        lat = list(self.sqs_latency_ms)
        return {
            "uptime_s": round(time.time() - self.started_at, 1),
            "functions": {name: {**p.stats.as_dict(), "worker_pids": p.pids()}
                          for name, p in self.pools.items()},
            "sqs": {"latency_ms_p50": percentile(lat, 0.5),
                    "latency_ms_p99": percentile(lat, 0.99),
                    "samples": len(lat),
                    "mappings": [{"queue": p.trigger.queue_name, "function": p.pool.fn.name,
                                  "pollers": p.threads, "batches": p.batches,
                                  "records": p.records} for p in self.pollers]},
            "schedules": self.scheduler.stats(),
            "websockets": self.gateway.stats(),
        }

    # -- HTTP -----------------------------------------------------------------------------------
    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "functions": sorted(self.pools),
                             "template": str(self.template.path),
                             "from_build": self.settings.runtime_from_build})

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _invoke_api(self, request: Request) -> Response:
        pool = self.pool(request.path_params["name"])
        if pool is None:
            return aws_error(404, "ResourceNotFoundException",
                             f"Function not found: {request.path_params['name']}")
        body = await request.body()
        if len(body) > MAX_PAYLOAD_BYTES:
            return aws_error(413, "RequestTooLargeException", "Request must be smaller than "
                             f"{MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation")
        try:
            event = parse_event(body)
        except ValueError:
            return aws_error(400, "InvalidRequestContentException",
                             "Could not parse request body into json")
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind == "DryRun":
            return Response(status_code=204)
        if kind == "Event":
            self.invoke_async(pool.fn, event)
            return Response(status_code=202)
        try:
            result = await anyio.to_thread.run_sync(
                lambda: pool.invoke(event, wait_s=_SYNC_WAIT_S))
        except Throttled as exc:
            return aws_error(429, "TooManyRequestsException", str(exc))
        return invoke_api_response(result)

    async def _http_event(self, request: Request, fn: Function, raw_path: str, route_key: str,
                          path_params: dict[str, str] | None) -> Response:
        body = await request.body()
        if len(body) > MAX_PAYLOAD_BYTES:
            return JSONResponse({"message": "Request Entity Too Large"}, status_code=413)
        event = apigw_event(request, body, raw_path, route_key, path_params)
        pool = self.pools[fn.name]
        try:
            result = await anyio.to_thread.run_sync(
                lambda: pool.invoke(event, wait_s=_SYNC_WAIT_S))
        except Throttled:
            return JSONResponse({"message": "Too Many Requests"}, status_code=429)
        return apigw_response(result)

    async def _function_url(self, request: Request) -> Response:
        pool = self.pool(request.path_params["name"])
        if pool is None or not pool.fn.function_url:
            return JSONResponse({"message": "Forbidden"}, status_code=403)
        if pool.fn.function_url_auth == "AWS_IAM":
            why = sigv4.problem(request.method, str(request.url),
                                {k.lower(): v for k, v in request.headers.items()},
                                await request.body(), self.settings.emulator_access_key_id,
                                self.settings.emulator_secret_access_key.get_secret_value(),
                                self.settings.region)
            if why:
                return JSONResponse({"message": f"Forbidden: {why}"}, status_code=403)
        raw_path = "/" + request.path_params.get("path", "")
        return await self._http_event(request, pool.fn, raw_path, "$default", None)

    async def _http_api(self, request: Request) -> Response:
        path = request.url.path
        found = match_route(self.routes, request.method, path)
        if found is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        route, params = found
        if route.route.authorizer:
            denied = await self._authorize(request, route, params)
            if denied is not None:
                return denied
        return await self._http_event(request, route.fn, path, route.route_key, params)

    async def _authorize(self, request: Request, route: CompiledRoute,
                         params: dict[str, str] | None) -> Response | None:
        """API Gateway's Lambda authorizer (payload 2.0, simple responses): 401 when an
        identity header is missing, 403 when the authorizer says no; the route never runs."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        if any(not headers.get(h) for h in route.route.identity):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        pool = self.pools.get(str(route.route.authorizer))
        if pool is None:
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        event = apigw_event(request, b"", request.url.path, route.route_key, params) | {
            "type": "REQUEST", "identitySource": [headers[h] for h in route.route.identity],
            "routeArn": f"arn:aws:execute-api:{self.settings.region}:123456789012:local/"
                        f"$default/{request.method}{request.url.path}"}
        event.pop("body", None)
        result = await anyio.to_thread.run_sync(lambda: pool.invoke(event, wait_s=_SYNC_WAIT_S))
        if result.error:
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        answer = result.json()
        if not (isinstance(answer, dict) and answer.get("isAuthorized") is True):
            return JSONResponse({"message": "Forbidden"}, status_code=403)
        return None

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Starlette(routes=[
            Route("/_runtime/health", self._health),
            Route("/_runtime/stats", self._stats),
            Route("/2015-03-31/functions/{name}/invocations", self._invoke_api, methods=["POST"]),
            WebSocketRoute("/ws/{api}", self.gateway.serve),
            Route("/_connections/@connections/{connection}", self.gateway.manage,
                  methods=["POST", "GET", "DELETE"]),
            Route("/lambda-url/{name}", self._function_url, methods=methods),
            Route("/lambda-url/{name}/{path:path}", self._function_url, methods=methods),
            Route("/{path:path}", self._http_api, methods=methods),
        ], lifespan=self._lifespan, exception_handlers={404: _not_found})

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.start()
        try:
            yield
        finally:
            self.shutdown()


def parse_event(body: bytes) -> Any:
    return orjson.loads(body) if body else {}


def main() -> None:
    settings = get_settings()
    runtime = Runtime(settings)
    uvicorn.run(runtime.app(), host=settings.host, port=settings.runtime_port,
                log_level="warning", access_log=False)
