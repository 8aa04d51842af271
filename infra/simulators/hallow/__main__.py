"""Run the Hallow simulator, push and pull: ``python -m simulators.hallow`` (TRIBUTARY_HALLOW_*).

It pushes to the webhook on its schedule and serves, on its own port, ``/health``, ``/stats``
(the counts a reconciliation needs) and ``POST /pause`` / ``POST /resume``.
"""

import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.hallow.pull import PullApi
from simulators.hallow.push import Pusher
from simulators.settings import HallowSettings
from tributary.settings import Settings


def main() -> None:
    cfg = HallowSettings()
    secret = Settings().webhook_signing_secret
    pusher = Pusher(cfg, cfg.target_url, (secret.get_secret_value() or None) if secret else None)
    state: dict[str, tuple[threading.Event, threading.Thread] | None] = {"loop": None}

    def start() -> None:
        if state["loop"] is None:
            stop = threading.Event()
            thread = threading.Thread(target=pusher.run_forever, args=(stop,), daemon=True)
            thread.start()
            state["loop"] = (stop, thread)

    def pause() -> None:
        if state["loop"] is not None:
            stop, thread = state["loop"]
            stop.set()
            thread.join()  # the request in flight is answered and counted
            state["loop"] = None

    if cfg.push:
        start()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pushing": state["loop"] is not None})

    pull = PullApi(cfg)

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(pusher.counts.as_dict() | {"pull_calls": pull.calls})

    async def pause_route(request: Request) -> JSONResponse:
        pause()  # a sync join: quick, one request at most
        return JSONResponse({"pushing": False, **pusher.counts.as_dict()})

    async def resume_route(request: Request) -> JSONResponse:
        start()
        return JSONResponse({"pushing": True})

    app = Starlette(routes=[Route("/health", health), Route("/stats", stats),
                            Route("/pause", pause_route, methods=["POST"]),
                            Route("/resume", resume_route, methods=["POST"]),
                            *pull.routes()])
    uvicorn.run(app, host=cfg.bind_host, port=cfg.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
