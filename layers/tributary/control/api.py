"""The sources' HTTP control surface: ``GET /sources``, ``POST /sources/{name}/pause``,
``/resume`` and ``/ingest``; its OpenAPI document at ``GET /sources/openapi.json``.

The rules are the CLI's (``tributary status``, ``pause``, ``resume``, ``ingest``): the same
functions in ``tributary.control`` do the work.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from tributary.api.resolver import answer, documented, error, resolver
from tributary.clients import aws_client, aws_resource
from tributary.control import sources
from tributary.control.answers import Sources, Started, Switched
from tributary.control.progress import Aws, progress
from tributary.pause import paused_sources
from tributary.settings import get_settings
from tributary.sources import loader
from tributary.sources.loader import DeclarationError

app = resolver("Tributary sources API", "/sources")
_UNKNOWN = "No such source; the message lists the declared ones"


def _aws() -> Aws:
    return Aws(aws_resource("dynamodb"), aws_client("events"), aws_client("sqs"))


@app.get("/sources", summary="Every source and stream: paused or not, position, counts",
         responses=documented(200, Sources, "Every declared source"))
def list_sources() -> Response[str]:
    aws = _aws()
    prog = progress(get_settings(), aws, reasons=True)
    out: dict[str, dict[str, Any]] = {}
    for name, stream in prog.streams.items():
        source, _, part = name.partition("/")
        entry = out.setdefault(source, {"kind": "pulled", "paused": stream.paused, "streams": {}})
        entry["streams"][part] = stream.as_dict()
    paused = paused_sources(aws.events)
    for name in loader.live_sources():
        out[name] = {"kind": "live", "paused": name in paused}
    return answer(200, {"sources": out, "settled": prog.settled, "queue": prog.queue})


def _switch(name: str, enabled: bool) -> Response[str]:
    try:
        state = sources.set_polling(aws_client("events"), name, enabled)
    except DeclarationError as exc:
        return error(404, str(exc))
    return answer(200, {"source": name, "paused": state == "DISABLED", "schedule": state})


@app.post("/sources/<name>/pause", summary="Stop polling a source; its position is kept",
          responses=documented(200, Switched, "Paused", {404: _UNKNOWN}))
def pause(name: str) -> Response[str]:
    return _switch(name, enabled=False)


@app.post("/sources/<name>/resume", summary="Poll a paused source again, from where it stopped",
          responses=documented(200, Switched, "Resumed", {404: _UNKNOWN}))
def resume(name: str) -> Response[str]:
    return _switch(name, enabled=True)


@app.post("/sources/<name>/ingest", summary="Fetch a pulled source now, due or not",
          responses=documented(202, Started, "The fetch started", {
              404: _UNKNOWN, 409: "The source is paused, or live (always running)"}))
def ingest(name: str) -> Response[str]:
    try:
        sources.startable(aws_client("events"), name)
        sources.start_fetch(aws_client("lambda"), name)
    except DeclarationError as exc:
        return error(404, str(exc))
    except sources.Paused as exc:
        return error(409, f"{exc} (POST /sources/{name}/resume)")
    except sources.NotPulled as exc:
        return error(409, str(exc))
    return answer(202, {"source": name, "started": True})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
