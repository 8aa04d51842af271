"""Running the pipeline on the stack: deploy, ingest and follow it, pause and resume sources,
invoke a function, send a heartbeat, runtime figures.

The ingestion's modules are imported by the commands that use them: pyarrow and deltalake
would add half a second to every other command's start.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import httpx
import orjson
import psycopg
import typer
from rich.table import Table

from localcloud.cli.common import JsonFlag, console, fail, say
from localcloud.cli.stack import deploy_template
from localcloud.config import emulator_client
from localcloud.schedules import schedule_events, template_block
from localcloud.stack import Stack
from localcloud.validate import check_schedules, check_sources
from tributary import heartbeat as beats
from tributary.control.sources import set_polling, startable
from tributary.pause import schedule_rule
from tributary.settings import get_settings
from tributary.sources import loader


def deploy() -> None:
    """Create every resource of template.yaml in the emulator (idempotent), and make the
    source declarations as they are now live in the running functions (no restart)."""
    settings = get_settings()
    started = time.monotonic()
    report = deploy_template(settings)
    created = sum(len(v) for v in report.created.values())
    existing = sum(len(v) for v in report.existing.values())
    console.print(f"deployed: {created} created, {existing} already present")
    for kind, names in sorted(report.created.items()):
        console.print(f"  + {kind}: {', '.join(names)}")
    for name, url in sorted(report.urls.items()):
        console.print(f"  url {name}: {url}")
    # A warm function looks at the declarations again once RECHECK_S has passed since its
    # last look; after that, no invocation can use what was there before this deploy.
    time.sleep(max(0.0, started + loader.RECHECK_S - time.monotonic()))
    folder = settings.sources_path
    if problems := check_sources(folder):
        for p in problems:
            say(p)
        fail(f"the declarations in {folder} do not load: every fetch and transform fails "
             "until they are fixed (`tributary validate`)")
    if Stack(settings).from_build:
        say("the functions run built artifacts (`stack up --from-build`), which hold the "
            "declarations of the last `tributary build`: to ship these, run `tributary build` "
            "then `tributary stack restart runtime`", "yellow")
    else:
        console.print(f"declarations live: {', '.join(sorted(loader.declarations()))}")
    for p in check_schedules(settings.template, folder):
        say(p, "yellow")


def invoke(function: str,
           payload: Annotated[str, typer.Option(help="The event, as JSON.")] = "{}") -> None:
    """Run one function once with the given event (through the Lambda API) and print the result."""
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        fail(f"--payload is not JSON: {exc}", 2)
    lam = emulator_client("lambda", get_settings())
    try:
        resp = lam.invoke(FunctionName=function, Payload=payload.encode())
    except lam.exceptions.ResourceNotFoundException:
        fail(f"no function {function!r} is deployed (see template.yaml)")
    print(resp["Payload"].read().decode())
    if resp.get("FunctionError"):
        raise typer.Exit(1)


def heartbeat(timeout: Annotated[float, typer.Option(help="Seconds to wait for the row.")] = 60
              ) -> None:
    """Send one heartbeat through the deployed pipeline and time each hop to PostgreSQL.

    heartbeat function -> raw object in S3 -> SQS -> heartbeat-sink function -> PostgreSQL.
    """
    settings = get_settings()
    started = time.perf_counter()
    resp = emulator_client("lambda", settings).invoke(
        FunctionName="tributary-heartbeat", Payload=b'{"source": "tributary heartbeat"}')
    beat = orjson.loads(resp["Payload"].read())
    if resp.get("FunctionError"):
        fail(f"heartbeat function failed: {beat}")
    invoked = time.perf_counter() - started
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        while (total := beats.stored(conn, beat["id"])) is None:
            if time.perf_counter() - started > timeout:
                fail(f"heartbeat {beat['id']} not in PostgreSQL after {timeout}s")
            time.sleep(0.05)
    stored = time.perf_counter() - started
    console.print(f"heartbeat {beat['id']}: raw object s3://{settings.raw_bucket}/{beat['key']}")
    console.print(f"  function returned in {invoked * 1000:.0f} ms; row in PostgreSQL after "
                  f"{stored * 1000:.0f} ms (heartbeats stored so far: {total})")


def ingest(all_sources: Annotated[bool, typer.Option("--all", help="Every source.")] = False,
           source: Annotated[list[str] | None, typer.Option(help="A declared source (repeat)."
                                                             )] = None,
           wait: Annotated[bool, typer.Option(help="Follow to completion and verify.")] = False,
           timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 3600
           ) -> None:
    """Fetch every stream of the sources now; with --wait, show progress and a summary."""
    from localcloud import ingest as job
    from localcloud.progress import Display

    if not all_sources and not source:
        raise typer.BadParameter("name a --source, or --all")
    settings = get_settings()
    only = None if all_sources else set(source or [])
    for name in sorted(only or ()):  # the HTTP API's refusals, in the same words
        startable(emulator_client("events", settings), name)
    started = time.perf_counter()
    before = {k: s.transformed for k, s in job.progress(settings, only).streams.items()}
    triggered = time.time()  # a small source's pass may end before the wait begins
    job.trigger_fetches(settings, only)
    if not wait:
        console.print("fetch started; follow it with `tributary status`")
        return
    display = Display(console, started, before=before)
    try:
        with display:
            final = job.wait(settings, display.update, timeout, sources=only, since=triggered)
    except TimeoutError as exc:
        fail(str(exc))
    verdicts = job.verify(settings, only)
    for _ in range(5):  # polled snapshots move on while we count: count again, briefly
        if all(v.ok for v in verdicts):
            break
        time.sleep(2)
        verdicts = job.verify(settings, only)
    wall = time.perf_counter() - started
    display.summary(verdicts, wall, sum(s.transformed for s in final.streams.values())
                    - sum(before.values()))
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)


def _set_polling(source: str, enabled: bool) -> None:
    state = set_polling(emulator_client("events", get_settings()), source, enabled)
    console.print(f"{source}: schedule {schedule_rule(source)} is {state}"
                  + ("" if enabled else "; its position is kept for `tributary resume`"))


def pause(source: str) -> None:
    """Stop polling a source (disables its schedule; same as awslocal events disable-rule)."""
    _set_polling(source, enabled=False)


def resume(source: str) -> None:
    """Poll a paused source again, from where it stopped."""
    _set_polling(source, enabled=True)


sources_app = typer.Typer()


@sources_app.callback(invoke_without_command=True)
def sources(ctx: typer.Context) -> None:
    """The declared sources, their streams, and the schedules template.yaml must hold;
    `tributary sources new` starts a declaration from an OpenAPI document."""
    if ctx.invoked_subcommand is not None:
        return  # the subcommand needs no declaration to load
    declared = loader.sources()
    t = Table("source", "stream", "pagination", "table", "every", title="sources")
    for src in declared.values():
        for s in src.streams:
            t.add_row(src.name, s.name, s.pagination.style, s.table, f"{src.interval(s):g}s")
    for live in loader.live_sources().values():
        t.add_row(live.name, live.stream.name, live.stream.style, live.stream.table,
                  "continuous")
    console.print(t)
    console.print("FetchFunction Events in template.yaml:")
    print(template_block(schedule_events(declared)))


def status(as_json: JsonFlag = False) -> None:
    """Ingestion figures now: per stream fetched, transformed, rejected; queue depth."""
    from localcloud import ingest as job
    from localcloud.progress import progress_table

    settings = get_settings()
    prog = job.progress(settings, reasons=True)
    if as_json:  # the --wait summary's figures too, under "summary"; "fetched" is every pass's
        out = prog.as_dict()
        for v in job.verify(settings):
            out["streams"].get(v.stream, {})["summary"] = v.as_dict()
        print(json.dumps(out))
    else:
        console.print(progress_table(prog, None))


def stats() -> None:
    """Runtime figures: invocations, errors, cold starts, SQS latency, schedule fires."""
    data = httpx.get(f"{get_settings().runtime_url}/_runtime/stats", timeout=5).json()
    json.dump(data, sys.stdout, indent=2)
    print()
