"""``tributary``: run the local cloud and the functions on it."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from localcloud.config import emulator_client, load_stack
from localcloud.deploy import Deployer, DeployReport
from localcloud.stack import Stack, StackError, Status
from localcloud.template import SocketRoute
from localcloud.viewer import ViewerBuildError
from tributary.settings import Settings, get_settings

app = typer.Typer(help="Tributary: own copies of your third-party data.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
stack_app = typer.Typer(help="Start, stop and inspect the embedded local cloud.",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
# Not a terminal (a pipe, a CI log): wide enough that no table cuts a stream's name.
console = Console(width=None if sys.stdout.isatty() else 200)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _status_table(statuses: list[Status]) -> Table:
    t = Table("service", "state", "healthy", "pid", "port", "rss MB", "log")
    for s in statuses:
        colour = "green" if s.healthy else "red"
        t.add_row(s.name, f"[{colour}]{s.state}[/]", "yes" if s.healthy else "no",
                  str(s.pid or "-"), str(s.port), str(s.rss_mb or "-"), s.log)
    return t


def _deploy() -> DeployReport:
    settings = get_settings()
    return Deployer(load_stack(settings), settings).run()


def _print_report(report: DeployReport) -> None:
    created = sum(len(v) for v in report.created.values())
    existing = sum(len(v) for v in report.existing.values())
    console.print(f"deployed: {created} created, {existing} already present")
    for kind, names in sorted(report.created.items()):
        console.print(f"  + {kind}: {', '.join(names)}")
    for name, url in sorted(report.urls.items()):
        console.print(f"  url {name}: {url}")


@stack_app.command("up")
def stack_up(as_json: JsonFlag = False,
             deploy: Annotated[bool, typer.Option(help="Deploy template.yaml.")] = True) -> None:
    """Start every part (reusing running ones), deploy the template, wait until healthy."""
    started = time.perf_counter()
    reports: list[DeployReport] = []
    settings = get_settings()
    if not settings.webhook_signing_secret or \
            not settings.webhook_signing_secret.get_secret_value():
        if settings.webhook_unsigned == "refuse":
            console.print("[red]stack up refused: the webhook has no signing secret[/] (set "
                          "TRIBUTARY_WEBHOOK_SIGNING_SECRET, or TRIBUTARY_WEBHOOK_UNSIGNED=warn)")
            raise typer.Exit(1)
        Console(stderr=True).print(
            "[yellow]warning: the webhook accepts unsigned requests: anyone who can reach it "
            "can push events. Set TRIBUTARY_WEBHOOK_SIGNING_SECRET (or "
            "TRIBUTARY_WEBHOOK_UNSIGNED=refuse to make this an error).[/]", highlight=False)
    stack = Stack(get_settings())
    try:
        statuses = stack.up((lambda: reports.append(_deploy())) if deploy else None)
    except (StackError, ViewerBuildError) as exc:
        console.print(f"[red]stack up failed:[/] {exc}")
        raise typer.Exit(1) from exc
    elapsed = time.perf_counter() - started
    if as_json:
        print(json.dumps({"elapsed_s": round(elapsed, 2), "notes": stack.notes,
                          "services": [s.as_dict() for s in statuses],
                          "endpoints": _endpoints(settings)}))
        return
    console.print(_status_table(statuses))
    for note in stack.notes:
        console.print(note, highlight=False)
    _print_endpoints(_endpoints(settings))
    console.print(f"local cloud up in {elapsed:.1f}s; the live viewer: `tributary viewer`")


@stack_app.command("status")
def stack_status(as_json: JsonFlag = False) -> None:
    """Report each part (pid, port, health, memory, log file) and every endpoint. Exit 1 if
    any part is unhealthy."""
    statuses = Stack(get_settings()).status()
    if as_json:
        print(json.dumps({"services": [s.as_dict() for s in statuses],
                          "endpoints": _endpoints(get_settings())}))
    else:
        console.print(_status_table(statuses))
        _print_endpoints(_endpoints(get_settings()))
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


@stack_app.command("rotate-token")
def stack_rotate_token() -> None:
    """A new API token for the HTTP routes; the old one stops working now."""
    from localcloud.credentials import rotate, token_path

    settings = get_settings()
    rotate(settings)
    stack = Stack(settings)
    runtime = stack.service("runtime")
    if stack.pid(runtime) is not None:  # its authorizer reads the token at start
        stack.stop(runtime)
        stack.start(runtime)
        stack.wait_healthy(runtime, settings.startup_timeout_s)
    console.print(f"new API token in {token_path(settings)}")


_NO_ROUTE = SocketRoute("", "")


def _endpoints(settings: Settings) -> dict[str, Any]:
    """Every address a user needs, from the settings and the template (nothing hard-coded)."""
    from localcloud.credentials import token_path

    template = load_stack(settings)
    routes = [{"method": r.method, "url": f"{settings.runtime_url}{r.path}",
               "function": fn.name,
               "auth": "bearer token" if r.authorizer else "public (authenticates itself)"}
              for fn in template.functions for r in fn.routes]
    urls = [{"url": f"{settings.runtime_url}/lambda-url/{fn.name}/", "function": fn.name,
             "auth": "SigV4" if fn.function_url_auth == "AWS_IAM" else "public"}
            for fn in template.functions if fn.function_url]
    ws_base = "ws" + settings.runtime_url.removeprefix("http")
    sockets = [{"url": f"{ws_base}/ws/{api.name}", "routes": sorted(api.routes),
                "auth": "?token=<API token>" if (api.routes.get("$connect") or
                                                  _NO_ROUTE).authorizer else "public"}
               for api in template.sockets]
    token = token_path(settings)
    curl = (f"curl -s -XPOST {settings.runtime_url}/query -H \"authorization: Bearer "
            f"$(cat {token})\" -H 'content-type: application/json' "
            "-d '{\"sql\": \"SELECT 42\"}'")
    return {"aws": settings.emulator_url, "postgres": settings.pg_dsn.get_secret_value(),
            "routes": routes, "function_urls": urls, "websockets": sockets,
            "viewer": f"{settings.runtime_url}/viewer/",
            "api_docs": f"{settings.runtime_url}/viewer/api/", "token_file": str(token),
            "curl": curl}


def _masked(dsn: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(dsn)
    return urlunsplit(u._replace(netloc=f"{u.username}:***@{u.hostname}:{u.port}"))


def _print_endpoints(found: dict[str, Any]) -> None:
    t = Table("what", "where", "auth", title="endpoints")
    t.add_row("AWS APIs (awslocal)", found["aws"], "any credentials")
    t.add_row("PostgreSQL", _masked(found["postgres"]),
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


@app.command()
def endpoints(as_json: JsonFlag = False) -> None:
    """Where everything is, and how to call it (the token is read from its file, not shown;
    ``--json`` includes the PostgreSQL password)."""
    found = _endpoints(get_settings())
    if as_json:
        print(json.dumps(found))
    else:
        _print_endpoints(found)


@app.command()
def viewer(api: Annotated[bool, typer.Option(help="The API page (Swagger UI) instead.")]
           = False) -> None:
    """The live viewer's link, with the API token in its fragment (a fragment never leaves
    the browser; the page keeps the token for its tab only)."""
    from localcloud.credentials import api_token

    settings = get_settings()
    page = "viewer/api/" if api else "viewer/"
    print(f"{settings.runtime_url}/{page}#token={api_token(settings)}")


@stack_app.command("restart")
def stack_restart(service: str) -> None:
    """Restart one part (e.g. ``runtime`` after editing template.yaml)."""
    stack = Stack(get_settings())
    try:
        svc = stack.service(service)
        stack.stop(svc)
        stack.start(svc)
        stack.wait_healthy(svc, get_settings().startup_timeout_s)
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"{service} restarted")


def _relake() -> int:
    import psycopg

    from tributary.load.lake import Lake
    from tributary.load.relake import relake

    settings = get_settings()
    with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
        return relake(conn, Lake(settings.lake_bucket, settings.region, settings.emulator_url))


@app.command("relake")
def relake_cmd() -> None:
    """Rewrite lake files that are missing, from PostgreSQL."""
    console.print(f"rebuilt {_relake()} lake pages")


@app.command()
def deploy() -> None:
    """Create every resource of template.yaml in the emulator (idempotent)."""
    _print_report(_deploy())


@app.command("validate")
def validate_cmd(template: Annotated[str | None, typer.Argument()] = None) -> None:
    """Check template.yaml offline: SAM translate, then cfn-lint. Exit 1 on any finding."""
    from pathlib import Path

    from localcloud.validate import validate

    path = Path(template) if template else get_settings().template
    problems = validate(path)
    for p in problems:
        console.print(f"[red]{p}[/]")
    if problems:
        raise typer.Exit(1)
    console.print(f"{path}: SAM translate and cfn-lint found nothing")


@app.command()
def invoke(function: str,
           payload: Annotated[str, typer.Option(help="The event, as JSON.")] = "{}") -> None:
    """Run one function once with the given event (through the Lambda API) and print the result."""
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        console.print(f"[red]--payload is not JSON:[/] {exc}")
        raise typer.Exit(2) from exc
    settings = get_settings()
    lam = emulator_client("lambda", settings)
    try:
        resp = lam.invoke(FunctionName=function, Payload=payload.encode())
    except Exception as exc:  # noqa: BLE001 - botocore raises per-code classes
        console.print(f"[red]invoke failed:[/] {exc}")
        raise typer.Exit(1) from exc
    body = resp["Payload"].read().decode()
    print(body)
    if resp.get("FunctionError"):
        raise typer.Exit(1)


@app.command()
def heartbeat(timeout: Annotated[float, typer.Option(help="Seconds to wait for the row.")] = 60
              ) -> None:
    """Send one heartbeat through the deployed pipeline and time each hop to PostgreSQL.

    heartbeat function -> raw object in S3 -> SQS -> heartbeat-sink function -> PostgreSQL.
    """
    import psycopg

    settings = get_settings()
    started = time.perf_counter()
    resp = emulator_client("lambda", settings).invoke(
        FunctionName="tributary-heartbeat", Payload=b'{"source": "tributary heartbeat"}')
    beat = orjson.loads(resp["Payload"].read())
    if resp.get("FunctionError"):
        console.print(f"[red]heartbeat function failed:[/] {beat}")
        raise typer.Exit(1)
    invoked = time.perf_counter() - started
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        while time.perf_counter() - started < timeout:
            exists = conn.execute("SELECT to_regclass('heartbeats')").fetchone()
            if exists and exists[0] and conn.execute(
                    "SELECT 1 FROM heartbeats WHERE id = %s", (beat["id"],)).fetchone():
                break
            time.sleep(0.05)
        else:
            console.print(f"[red]heartbeat {beat['id']} not in PostgreSQL after {timeout}s[/]")
            raise typer.Exit(1)
        total = conn.execute("SELECT count(*) FROM heartbeats").fetchone()
    stored = time.perf_counter() - started
    console.print(f"heartbeat {beat['id']}: raw object s3://{settings.raw_bucket}/{beat['key']}")
    console.print(f"  function returned in {invoked * 1000:.0f} ms; row in PostgreSQL after "
                  f"{stored * 1000:.0f} ms (heartbeats stored so far: {total[0] if total else 0})")


@app.command()
def ingest(all_sources: Annotated[bool, typer.Option("--all", help="Every source.")] = False,
           source: Annotated[list[str] | None, typer.Option(help="A declared source (repeat)."
                                                             )] = None,
           wait: Annotated[bool, typer.Option(help="Follow to completion and verify.")] = False,
           timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 3600
           ) -> None:
    """Fetch every stream of the sources now; with --wait, show progress and a summary."""
    from localcloud import ingest as job
    from localcloud.progress import Display
    from tributary.sources.loader import source as declared

    if not all_sources and not source:
        raise typer.BadParameter("name a --source, or --all")
    settings = get_settings()
    only = None if all_sources else {declared(s).name for s in source or []}
    started = time.perf_counter()
    before = sum(s.transformed for s in job.progress(settings, only).streams.values())
    job.trigger_fetches(settings, only)
    if not wait:
        console.print("fetch started; follow it with `tributary status`")
        return
    display = Display(console, started)
    try:
        with display:
            final = job.wait(settings, display.update, timeout, sources=only)
    except TimeoutError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    verdicts = job.verify(settings, only)
    for _ in range(5):  # polled snapshots move on while we count: count again, briefly
        if all(v.ok for v in verdicts):
            break
        time.sleep(2)
        verdicts = job.verify(settings, only)
    wall = time.perf_counter() - started
    display.summary(verdicts, wall, sum(s.transformed for s in final.streams.values()) - before)
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)


def _set_polling(source: str, enabled: bool) -> None:
    from tributary.control.sources import set_polling
    from tributary.extract.fetch import schedule_rule

    state = set_polling(emulator_client("events", get_settings()), source, enabled)
    console.print(f"{source}: schedule {schedule_rule(source)} is {state}"
                  + ("" if enabled else "; its position is kept for `tributary resume`"))


@app.command()
def pause(source: str) -> None:
    """Stop polling a source (disables its schedule; same as awslocal events disable-rule)."""
    _set_polling(source, enabled=False)


@app.command()
def resume(source: str) -> None:
    """Poll a paused source again, from where it stopped."""
    _set_polling(source, enabled=True)


@app.command()
def sources() -> None:
    """The declared sources, their streams, and the schedules template.yaml must hold."""
    from localcloud.schedules import schedule_events, template_block
    from tributary.sources.loader import sources as declared

    t = Table("source", "stream", "pagination", "table", "every", title="sources")
    for src in declared().values():
        for s in src.streams:
            t.add_row(src.name, s.name, s.pagination.style, s.table, f"{src.interval(s):g}s")
    console.print(t)
    console.print("FetchFunction Events in template.yaml:")
    print(template_block(schedule_events(declared())))


@app.command()
def compact(table: str,
            where: Annotated[list[str] | None, typer.Option(
                help="Only this partition, as column=value (repeat), e.g. dt=2026-10-01.")]
            = None,
            target_mb: Annotated[float, typer.Option(help="Target file size.")] = 128.0,
            as_json: JsonFlag = False) -> None:
    """Rewrite a lake table's small files into files of the target size, in one commit."""
    from tributary.load.compact import CompactError
    from tributary.load.compact import compact as run
    from tributary.load.lake import Lake

    parts = dict(w.split("=", 1) for w in where or [] if "=" in w)
    if len(parts) != len(where or []):
        raise typer.BadParameter("--where takes column=value")
    settings = get_settings()
    try:
        done = run(Lake(settings.lake_bucket, settings.region, settings.emulator_url), table,
                   parts, int(target_mb * 2**20))
    except CompactError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    if as_json:
        print(json.dumps(done.__dict__, default=str))
        return
    console.print(f"{table}{' ' + str(parts) if parts else ''}: {done.files_before} files -> "
                  f"{done.files_after}, {done.rows_after:,} rows before and after "
                  f"(table version {done.version})")


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Ingestion figures now: per stream fetched, transformed, rejected; queue depth."""
    from localcloud import ingest as job

    prog = job.progress(get_settings(), reasons=True)
    if as_json:
        print(json.dumps(prog.as_dict()))
        return
    from localcloud.progress import progress_table

    console.print(progress_table(prog, None))


@app.command("rejects")
def rejects_cmd(stream: Annotated[str | None, typer.Option(
                    help="Only this stream, as source/stream.")] = None,
                limit: Annotated[int, typer.Option(help="How many to list.")] = 20,
                as_json: JsonFlag = False) -> None:
    """Rejected records: per stream how many and why, then the newest ones."""
    import psycopg

    from tributary.control import rejects

    settings = get_settings()
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        found = {k: v for k, v in rejects.by_stream(conn, top=10).items()
                 if not stream or k == stream}
        rows = rejects.listing(conn, stream, limit)
    if as_json:
        print(orjson.dumps({"streams": {k: {"rejected": v.rejected, "reasons": [
            r.as_dict() for r in v.reasons]} for k, v in found.items()}, "rejects": rows},
            default=str).decode())
        return
    if not found:
        console.print("no rejects" + (f" in {stream}" if stream else ""))
        return
    reasons = Table("stream", "records", "problem", "e.g. raw page", title="rejects by reason")
    for name, v in found.items():
        for r in v.reasons:
            reasons.add_row(name, f"{r.records:,}", r.problem, r.example_key)
    console.print(reasons)
    listed = Table("stream", "raw page", "#", "record id", "reason", title=f"newest {limit}")
    for row in rows:
        listed.add_row(row["stream"], row["raw_key"],
                       str(row["record_index"]), str(row["record_id"]), row["reason"])
    console.print(listed)


@app.command()
def replay(rejects_only: Annotated[bool, typer.Option(
               "--rejects", help="Replay the records that were rejected.")] = False,
           source: Annotated[list[str] | None, typer.Option(help="Only this source (repeat).")]
           = None,
           wait: Annotated[bool, typer.Option(help="Wait until every replay is loaded.")] = True,
           timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 600
           ) -> None:
    """Load rejected records again from the raw zone (after fixing a declaration or parser)."""
    import psycopg

    from localcloud import rejects
    from tributary.control.rejects import by_stream

    if not rejects_only:
        raise typer.BadParameter("say what to replay: --rejects")
    settings = get_settings()
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        before = sum(v.rejected for v in by_stream(conn).values())
        keys = rejects.replay(settings, conn, set(source) if source else None)
        console.print(f"replaying {len(keys)} raw pages holding {before:,} rejects")
        if not wait or not keys:
            return
        deadline = time.monotonic() + timeout
        while rejects.replays_done(conn, keys) < len(keys):
            if time.monotonic() > deadline:
                console.print(f"[red]replays not all loaded after {timeout:.0f}s[/]")
                raise typer.Exit(1)
            time.sleep(0.5)
        after = sum(v.rejected for v in by_stream(conn).values())
    console.print(f"replayed: {before - after:,} records loaded, {after:,} still rejected")


@app.command()
def query(sql: str,
          fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
          param: Annotated[list[str] | None, typer.Option(help="A ? parameter (repeat).")]
          = None) -> None:
    """Read-only SQL over the lake tables and PostgreSQL (as pg.public.<table>)."""
    import csv

    from tributary.query.engine import Engine, QueryError
    from tributary.query.http import result_json

    if fmt not in ("table", "csv", "json"):
        console.print("[red]--format is table, csv or json[/]")
        raise typer.Exit(2)
    settings = get_settings()
    try:
        result = Engine(settings, emulator_client("s3", settings),
                        settings.emulator_url).run(sql, list(param or []))
    except QueryError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    if fmt == "json":
        print(orjson.dumps(result_json(result), default=str).decode())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        t = Table(*result.columns)
        for row in result.rows:
            t.add_row(*("" if v is None else str(v) for v in row))
        t.caption = f"{len(result.rows)} rows in {result.elapsed_ms:.0f} ms" + (
            f"; {result.note}" if result.note else "")
        console.print(t)


models_app = typer.Typer(help="Analytic models: the dbt project in analytics/.",
                          no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("run")
def models_run(
    project: Annotated[str, typer.Option(help="The dbt project's folder.")] = "analytics",
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. "
                                               "top_5_prayer_types_per_age_group+")] = None,
    test: Annotated[bool, typer.Option(help="Run the dbt tests too (dbt build).")] = True,
) -> None:
    """Build every model into the lake (a table of its name) and run the dbt tests.

    Models that read a lake table which has not landed yet are left out, not failed."""
    from pathlib import Path

    from tributary.analytics.runner import ModelsError, run
    from tributary.query.catalog import prefixes

    settings = get_settings()
    landed = set(prefixes(emulator_client("s3", settings), settings.lake_bucket))
    try:
        outcome = run(Path(project), landed, "build" if test else "run", select)
    except ModelsError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    for name in outcome.not_landed:
        console.print(f"[yellow]left out: the models reading lake.{name} "
                      "(it has not landed yet)[/]")
    for r in outcome.results:
        if r.exported and r.status == "success":
            console.print(f"{r.name} -> s3://{settings.lake_bucket}/{r.name}/part-0.parquet",
                          soft_wrap=True)
    raise typer.Exit(outcome.returncode)


@app.command()
def stats() -> None:
    """Runtime figures: invocations, errors, cold starts, SQS latency, schedule fires."""
    try:
        data = httpx.get(f"{get_settings().runtime_url}/_runtime/stats", timeout=5).json()
    except httpx.HTTPError as exc:
        console.print(f"[red]runtime not reachable:[/] {exc}")
        raise typer.Exit(1) from exc
    json.dump(data, sys.stdout, indent=2)
    print()


def main() -> None:
    """Run a command, then leave without interpreter finalization.

    With deltalake's native runtime and DuckDB's loaded in one process, tearing the
    interpreter down sometimes aborts ("terminate called without an active exception"),
    which loses buffered output and turns success into SIGABRT. Everything a command does is
    finished and flushed by the time it returns, so skipping finalization loses nothing.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
