"""Run the Hallow push simulator: ``python -m simulators.hallow`` (TRIBUTARY_HALLOW_*).

It pushes to the webhook on its schedule and serves ``/health`` and ``/stats`` (the counts
a reconciliation needs) on its own port.
"""

import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.hallow.push import Pusher
from tributary.settings import HallowSettings, Settings


def main() -> None:
    cfg = HallowSettings()
    secret = Settings().webhook_signing_secret
    pusher = Pusher(cfg, cfg.target_url, (secret.get_secret_value() or None) if secret else None)
    stop = threading.Event()
    if cfg.push:
        threading.Thread(target=pusher.run_forever, args=(stop,), daemon=True).start()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pushing": cfg.push})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(pusher.counts.as_dict())

    app = Starlette(routes=[Route("/health", health), Route("/stats", stats)])
    uvicorn.run(app, host="127.0.0.1", port=cfg.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
