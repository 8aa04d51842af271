"""Every address the embedded stack serves, read from the settings and ``template.yaml``:
the AWS APIs, PostgreSQL, each HTTP route and function URL, the WebSocket APIs, the viewer
and the API page. ``stack up``, ``stack status`` and ``tributary endpoints`` print it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from localcloud.config import load_stack
from localcloud.credentials import token_path
from localcloud.template import SocketApi, Template
from tributary.settings import Settings


def endpoints(settings: Settings, template: Template | None = None) -> dict[str, Any]:
    """As JSON: the DSN carries its password; the token is named by its file, never shown."""
    template = template or load_stack(settings)
    base = settings.runtime_url
    routes = [{"method": r.method, "url": f"{base}{r.path}", "function": fn.name,
               "auth": "bearer token" if r.authorizer else "public (authenticates itself)"}
              for fn in template.functions for r in fn.routes
              if r.method != "ANY"]  # ANY routes only answer 405 for the methods not taken
    urls = [{"url": f"{base}/lambda-url/{fn.name}/", "function": fn.name,
             "auth": "SigV4" if fn.function_url_auth == "AWS_IAM" else "public"}
            for fn in template.functions if fn.function_url]
    ws_base = "ws" + base.removeprefix("http")
    sockets = [{"url": f"{ws_base}/ws/{api.name}", "routes": sorted(api.routes),
                "auth": "?token=<API token>" if _connect_checked(api) else "public"}
               for api in template.sockets]
    token = token_path(settings)
    curl = (f"curl -s -XPOST {base}/query -H \"authorization: Bearer $(cat {token})\" "
            "-H 'content-type: application/json' -d '{\"sql\": \"SELECT 42\"}'")
    return {"aws": settings.emulator_url, "postgres": settings.pg_dsn.get_secret_value(),
            "routes": routes, "function_urls": urls, "websockets": sockets,
            "viewer": f"{base}/viewer/", "api_docs": f"{base}/viewer/api/",
            "token_file": str(token), "curl": curl}


def _connect_checked(api: SocketApi) -> bool:
    connect = api.routes.get("$connect")
    return bool(connect and connect.authorizer)


def masked(dsn: str) -> str:
    """A DSN fit to print: the password replaced by ``***``."""
    u = urlsplit(dsn)
    return urlunsplit(u._replace(netloc=f"{u.username}:***@{u.hostname}:{u.port}"))
