"""``tributary stack ...``, ``endpoints`` and ``viewer``: the embedded cloud's lifecycle and
where it can be reached."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from localcloud.cli.common import JsonFlag, console, fail
from localcloud.config import load_stack
from localcloud.credentials import api_token, rotate, token_path, unsigned_webhook
from localcloud.deploy import Deployer, DeployReport
from localcloud.endpoints import endpoints as find_endpoints
from localcloud.endpoints import masked
from localcloud.stack import Stack, StackError, Status
from localcloud.viewer import ViewerBuildError
from tributary.settings import Settings, get_settings

stack_app = typer.Typer(help="Start, stop and inspect the embedded local cloud.",
                        no_args_is_help=True)


def deploy_template(settings: Settings) -> DeployReport:
    return Deployer(load_stack(settings), settings).run()


def _status_table(statuses: list[Status]) -> Table:
    t = Table("service", "state", "healthy", "pid", "port", "rss MB", "log")
    for s in statuses:
        colour = "green" if s.healthy else "red"
        t.add_row(s.name, f"[{colour}]{s.state}[/]", "yes" if s.healthy else "no",
                  str(s.pid or "-"), str(s.port), str(s.rss_mb or "-"), s.log)
    return t


def _check_webhook_signing(settings: Settings) -> None:
    policy = unsigned_webhook(settings)
    if policy == "refuse":
        fail("stack up refused: the webhook has no signing secret (set "
             "TRIBUTARY_WEBHOOK_SIGNING_SECRET, or TRIBUTARY_WEBHOOK_UNSIGNED=warn)")
    if policy == "warn":
        Console(stderr=True).print(
            "[yellow]warning: the webhook accepts unsigned requests: anyone who can reach it "
            "can push events. Set TRIBUTARY_WEBHOOK_SIGNING_SECRET (or "
            "TRIBUTARY_WEBHOOK_UNSIGNED=refuse to make this an error).[/]", highlight=False)


@stack_app.command("up")
def stack_up(as_json: JsonFlag = False,
             deploy: Annotated[bool, typer.Option(help="Deploy template.yaml.")] = True,
             from_build: Annotated[bool, typer.Option(
                 help="Run every function from its built artifact (`tributary build`): "
                      "zip functions in their runtime's Python, image functions in "
                      "containers. Without it, from the checkout.")] = False) -> None:
    """Start every part (reusing running ones), deploy the template, wait until healthy."""
    started = time.perf_counter()
    settings = get_settings()
    _check_webhook_signing(settings)
    if from_build and not (settings.home_dir / "build" / "manifest.json").exists():
        fail("nothing is built yet: run `tributary build` first")
    stack = Stack(settings)
    if stack.run_built(from_build):  # a runtime running the other way starts again
        stack.stop(stack.service("runtime"))
        stack = Stack(settings)
    try:
        statuses = stack.up((lambda: deploy_template(settings)) if deploy else None)
    except (StackError, ViewerBuildError) as exc:
        fail(f"stack up failed: {exc}")
    elapsed = time.perf_counter() - started
    if as_json:
        print(json.dumps({"elapsed_s": round(elapsed, 2), "notes": stack.notes,
                          "services": [s.as_dict() for s in statuses],
                          "endpoints": find_endpoints(settings)}))
        return
    console.print(_status_table(statuses))
    for note in stack.notes:
        console.print(note, highlight=False)
    print_endpoints(find_endpoints(settings))
    console.print(f"local cloud up in {elapsed:.1f}s; the live viewer: `tributary viewer`")


@stack_app.command("status")
def stack_status(as_json: JsonFlag = False) -> None:
    """Report each part (pid, port, health, memory, log file) and every endpoint. Exit 1 if
    any part is unhealthy."""
    statuses = Stack(get_settings()).status()
    if as_json:
        print(json.dumps({"services": [s.as_dict() for s in statuses],
                          "endpoints": find_endpoints(get_settings())}))
    else:
        console.print(_status_table(statuses))
        print_endpoints(find_endpoints(get_settings()))
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@stack_app.command("down")
def stack_down(purge: Annotated[bool, typer.Option(
        help="Also delete all data: objects, tables, queues, checkpoints, the database.")]
        = False) -> None:
    """Stop every process the stack started; its data stays for the next `stack up`."""
    stack = Stack(get_settings())
    stopped = stack.down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    if purge:
        console.print(f"deleted: {', '.join(str(p) for p in stack.purge()) or 'no data'}")


def _restart(stack: Stack, service: str) -> None:
    try:
        svc = stack.service(service)
        stack.stop(svc)
        stack.start(svc)
        stack.wait_healthy(svc, get_settings().startup_timeout_s)
    except StackError as exc:
        fail(str(exc))


@stack_app.command("restart")
def stack_restart(service: str) -> None:
    """Restart one part (e.g. ``runtime`` after editing template.yaml)."""
    _restart(Stack(get_settings()), service)
    console.print(f"{service} restarted")


@stack_app.command("rotate-token")
def stack_rotate_token() -> None:
    """A new API token for the HTTP routes; the old one stops working now."""
    settings = get_settings()
    rotate(settings)
    stack = Stack(settings)
    if stack.pid(stack.service("runtime")) is not None:  # its authorizer reads it at start
        _restart(stack, "runtime")
    console.print(f"new API token in {token_path(settings)}")


def print_endpoints(found: dict[str, Any]) -> None:
    t = Table("what", "where", "auth", title="endpoints")
    t.add_row("AWS APIs (awslocal)", found["aws"], "any credentials")
    t.add_row("PostgreSQL", masked(found["postgres"]),
              "password in TRIBUTARY_PG_DSN (`--json` shows it)")
    for r in found["routes"]:
        t.add_row(f"{r['method']} ({r['function']})", r["url"], r["auth"])
    for u in found["function_urls"]:
        t.add_row(f"function URL ({u['function']})", u["url"], u["auth"])
    for w in found["websockets"]:
        t.add_row(f"WebSocket ({', '.join(w['routes'])})", str(w["url"]), str(w["auth"]))
    t.add_row("live viewer (web page)", found["viewer"], "open the link `tributary viewer` prints")
    t.add_row("API docs, Swagger UI (web page)", found["api_docs"],
              "open the link `tributary viewer --api` prints")
    t.columns[1].no_wrap = True
    console.print(t)
    console.print(f"API token: {found['token_file']}\n{found['curl']}", highlight=False,
                  soft_wrap=True)


def endpoints(as_json: JsonFlag = False) -> None:
    """Where everything is, and how to call it (the token is read from its file, not shown;
    ``--json`` includes the PostgreSQL password)."""
    found = find_endpoints(get_settings())
    if as_json:
        print(json.dumps(found))
    else:
        print_endpoints(found)


def viewer(api: Annotated[bool, typer.Option(help="The API page (Swagger UI) instead.")]
           = False) -> None:
    """The live viewer's link, with the API token in its fragment (a fragment never leaves
    the browser; the page keeps the token for its tab only)."""
    settings = get_settings()
    page = "viewer/api/" if api else "viewer/"
    print(f"{settings.runtime_url}/{page}#token={api_token(settings)}")


def subscribe(seconds: Annotated[float, typer.Option(help="How long to listen.")] = 10,
              start: Annotated[int, typer.Option(help="Epoch seconds: rows from.")] = 0,
              stop: Annotated[int, typer.Option(help="Epoch seconds: rows until.")] = 2**31,
              after: Annotated[int | None, typer.Option(
                  help="Only changes after this number (the catch-up).")] = None) -> None:
    """Follow the live copy's changes over its WebSocket API, one JSON line each: the catch-up
    after ``--after``, then what is pushed for ``--seconds``."""
    from tributary.live.subscriber import Subscriber

    settings = get_settings()
    ws = "ws" + settings.runtime_url.removeprefix("http") + "/ws/tributary-live"
    sub = Subscriber(ws, api_token(settings))
    try:
        for change in sub.subscribe(start, stop, after):
            print(json.dumps(change), flush=True)
        for _, change in sub.changes(seconds):
            print(json.dumps(change), flush=True)
    finally:
        sub.close()
