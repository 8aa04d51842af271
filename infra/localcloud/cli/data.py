"""Reading and mending what was ingested: SQL, rejects and their replay, lake compaction and
rebuilds, the dbt models. The query engine and the lake are imported by the commands that use
them (pyarrow, deltalake and DuckDB cost every other command half a second at start)."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import psycopg
import typer
from rich.table import Table

from localcloud import rejects as replays
from localcloud.cli.common import JsonFlag, console, fail
from localcloud.config import emulator_client
from tributary.control import rejects
from tributary.settings import get_settings
from tributary.sources import loader


def query(sql: str,
          fmt: Annotated[str, typer.Option("--format", help="table, csv or json; with --out: "
                                           "csv, parquet, lines or json")] = "table",
          param: Annotated[list[str] | None, typer.Option(help="A ? parameter (repeat).")]
          = None,
          out: Annotated[Path | None, typer.Option(
              help="Write every row to this file, streamed (no row cap): csv, parquet, "
                   "lines (one row per line, comma-separated) or json lines.")] = None) -> None:
    """Read-only SQL over the lake tables and PostgreSQL (as pg.public.<table>)."""
    from tributary.query.engine import Engine, QueryError
    from tributary.query.http import result_json

    formats = _OUT_FORMATS if out else ("table", "csv", "json")
    if fmt == "table" and out:
        fmt = "csv"
    if fmt not in formats:
        fail(f"--format is {', '.join(formats[:-1])} or {formats[-1]}"
             f"{' with --out' if out else ''}", 2)
    settings = get_settings()
    try:
        engine = Engine(settings, emulator_client("s3", settings), settings.emulator_url)
        if out:
            return _query_to_file(engine, sql, list(param or []), out, fmt)
        result = engine.run(sql, list(param or []))
    except QueryError as exc:
        fail(str(exc))
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


_OUT_FORMATS = ("csv", "parquet", "lines", "json")


def _query_to_file(engine: Any, sql: str, params: list[str], out: Path, fmt: str) -> None:
    """Stream every row to ``out``; a failed query leaves no file (it is written beside)."""
    from tributary.query import export

    started = time.perf_counter()
    part = out.with_name(out.name + ".part")
    try:
        with engine.stream(sql, params) as reader:
            rows = export.write(reader, part, cast(export.Format, fmt))
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    took = time.perf_counter() - started
    mb = out.stat().st_size / 1e6
    console.print(f"{rows:,} rows to {out} ({fmt}, {mb:.1f} MB) in {took:.1f}s")


def rejects_cmd(stream: Annotated[str | None, typer.Option(
                    help="Only this stream, as source/stream.")] = None,
                limit: Annotated[int, typer.Option(help="How many to list.")] = 20,
                as_json: JsonFlag = False) -> None:
    """Rejected records: per stream how many and why, then the newest ones."""
    with psycopg.connect(get_settings().pg_dsn.get_secret_value(), autocommit=True) as conn:
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


def replay(rejects_only: Annotated[bool, typer.Option(
               "--rejects", help="Replay the records that were rejected.")] = False,
           source: Annotated[list[str] | None, typer.Option(help="Only this source (repeat).")]
           = None,
           wait: Annotated[bool, typer.Option(help="Wait until every replay is loaded.")] = True,
           timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 600
           ) -> None:
    """Load rejected records again from the raw zone (after fixing a declaration or parser)."""
    if not rejects_only:
        raise typer.BadParameter("say what to replay: --rejects")
    settings = get_settings()
    for name in source or []:
        loader.source(name)  # an unknown source is named, not replayed as nothing
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        before = sum(v.rejected for v in rejects.by_stream(conn).values())
        keys = replays.replay(settings, conn, set(source) if source else None)
        console.print(f"replaying {len(keys)} raw pages holding {before:,} rejects")
        if not wait or not keys:
            return
        deadline = time.monotonic() + timeout
        while replays.replays_done(conn, keys) < len(keys):
            if time.monotonic() > deadline:
                fail(f"replays not all loaded after {timeout:.0f}s")
            time.sleep(0.5)
        after = sum(v.rejected for v in rejects.by_stream(conn).values())
    console.print(f"replayed: {before - after:,} records loaded, {after:,} still rejected")


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
        done = run(Lake.of(settings, settings.emulator_url), table,
                   parts, int(target_mb * 2**20))
    except CompactError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(done.__dict__, default=str))
        return
    console.print(f"{table}{' ' + str(parts) if parts else ''}: {done.files_before} files -> "
                  f"{done.files_after}, {done.rows_after:,} rows before and after "
                  f"(table version {done.version})")


def relake() -> None:
    """Rewrite lake files that are missing, from PostgreSQL."""
    from tributary.load.lake import Lake
    from tributary.load.relake import relake as rebuild

    settings = get_settings()
    with psycopg.connect(settings.pg_dsn.get_secret_value()) as conn:
        pages = rebuild(conn, Lake.of(settings, settings.emulator_url))
    console.print(f"rebuilt {pages} lake pages")


models_app = typer.Typer(help="Analytic models: the dbt project in analytics/.",
                         no_args_is_help=True)


@models_app.command("run")
def models_run(
    project: Annotated[str, typer.Option(help="The dbt project's folder.")] = "analytics",
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. "
                                               "top_5_prayer_types_per_age_group+")] = None,
    test: Annotated[bool, typer.Option(help="Run the dbt tests too (dbt build).")] = True,
) -> None:
    """Build every model into the lake (a table of its name) and run the dbt tests.

    Models that read a lake table which has not landed yet are left out, not failed."""
    from tributary.analytics.runner import ModelsError, run
    from tributary.load.lake import prefixes

    settings = get_settings()
    landed = set(prefixes(emulator_client("s3", settings), settings.lake_bucket))
    try:
        outcome = run(Path(project), landed, "build" if test else "run", select)
    except ModelsError as exc:
        fail(str(exc))
    for name in outcome.not_landed:
        console.print(f"[yellow]left out: the models reading lake.{name} "
                      "(it has not landed yet)[/]")
    for r in outcome.results:
        if r.exported and r.status == "success":
            console.print(f"{r.name} -> s3://{settings.lake_bucket}/{r.name}/part-0.parquet",
                          soft_wrap=True)
    raise typer.Exit(outcome.returncode)
