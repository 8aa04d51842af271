"""Soak: a stack that has run for hours must answer as fast as a fresh one and cost nothing
while nothing changes (issue 35, "all day long").

    .venv/bin/python infra/bench/soak.py                                    # 6 h, then 10 min
    .venv/bin/python infra/bench/soak.py --scale 0.1 --minutes 30 --quiet-minutes 8

Starts a fresh stack (ports --base-port .. +8) with every source's schedule on and every
schedule period multiplied by --scale, runs `tributary ingest --all --wait`, then samples
every --sample-s: CPU and RSS of each of the stack's processes, the emulator's calls, query
latencies (CLI, HTTP, Athena, the viewer's rows) and each lake Delta table's version, log
length and files. The busy phase leaves every simulator as it is (Hallow pushing to the
webhook too); the quiet phase stills them: snapshots frozen (``POST /_sim/freeze``), the
timeline paused (``POST /control``), Hallow's pushes paused (``POST /pause``); DataSync,
Hallow's pull API and the bazaar never change on their own. Rows go to samples.csv and
tables.csv in --out as they are taken; at the end a table per phase and soak.png.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
import yaml
from common import ROOT, fresh_stack
from soak_chart import TABLE_FIELDS, chart, report

LATENCIES = ("cli_select1", "http_select1", "http_count", "http_join", "http_tables",
             "athena_count", "viewer_rows")
JOIN = "SELECT count(*) FROM events e JOIN sessions s ON s.id = e.session_id"
LOG_FILE = re.compile(r"/_delta_log/(\d{20})\.json$")


def _sources() -> frozenset[str]:
    return frozenset(yaml.safe_load(p.read_text())["name"]
                     for p in (ROOT / "sources").glob("*.yaml"))


# -- the stack's processes --------------------------------------------------------------------
def processes(stack: Any) -> dict[str, list[psutil.Process]]:
    """Each service's process with its children (PostgreSQL's backends, say); the runtime's
    children are the function workers, counted apart: they are what invocations cost."""
    groups: dict[str, list[psutil.Process]] = {}
    for svc in stack.services:
        pid = stack.pid(svc)
        procs: list[psutil.Process] = []
        try:
            if pid is not None:
                procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            procs = []
        if svc.name == "runtime":
            groups["runtime"], groups["workers"] = procs[:1], procs[1:]
        else:
            groups[svc.name] = procs
    return groups


def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def _rss_mb(p: psutil.Process) -> float:
    # Summed RSS counts PostgreSQL's shared buffers once per backend: a ceiling, not a total.
    return float(p.memory_info().rss) / 2**20


def total(procs: list[psutil.Process], of: Callable[[psutil.Process], float]) -> float:
    out = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # a worker may end while we look
            out += of(p)
    return round(out, 1)


class Cpu:
    """CPU seconds since ``mark``. The probes run between a sample and the next mark, so a
    sample shows what the stack spends on its own, not what measuring it costs."""

    def __init__(self) -> None:
        self.seen: dict[psutil.Process, float] = {}
        self.at = time.monotonic()

    def mark(self, groups: dict[str, list[psutil.Process]]) -> None:
        self.seen = {p: total([p], _cpu_s) for ps in groups.values() for p in ps}
        self.at = time.monotonic()

    def percent(self, groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
        span = max(time.monotonic() - self.at, 1e-6)
        # One born since the mark counts from zero; one gone since is lost (a ceiling below).
        return {name: round(100 * sum(total([p], _cpu_s) - self.seen.get(p, 0.0)
                                      for p in procs) / span, 1)
                for name, procs in groups.items()}


# -- what a user waits for --------------------------------------------------------------------
def _ok(resp: httpx.Response) -> httpx.Response:
    if resp.is_error:  # the body says why; raise_for_status() would only say the status
        raise RuntimeError(f"{resp.status_code} {resp.text[:300]}")
    return resp


class Probes:
    def __init__(self, settings: Any) -> None:
        from localcloud.config import emulator_client
        from localcloud.credentials import api_token

        self.settings = settings
        self.http = httpx.Client(base_url=settings.runtime_url, timeout=300, headers={
            "authorization": f"Bearer {api_token(settings)}"})
        self.athena = emulator_client("athena", settings)

    def cli_select1(self) -> tuple[float, float | None]:
        t = time.perf_counter()  # a new interpreter each time: what typing the command costs
        subprocess.run([sys.executable, "-m", "localcloud.cli", "query", "select 1"],
                       check=True, capture_output=True, timeout=300)
        return (time.perf_counter() - t) * 1000, None

    def _sql(self, sql: str) -> tuple[float, float | None]:
        t = time.perf_counter()
        resp = self.http.post("/query", json={"sql": sql})
        wall = (time.perf_counter() - t) * 1000
        return wall, _ok(resp).json().get("elapsed_ms")

    def _get(self, path: str, **params: Any) -> tuple[float, float | None]:
        t = time.perf_counter()
        _ok(self.http.get(path, params=params))
        return (time.perf_counter() - t) * 1000, None

    def athena_count(self) -> tuple[float, float | None]:
        t = time.perf_counter()
        qid = self.athena.start_query_execution(QueryString="SELECT count(*) FROM events",
                                                WorkGroup="primary")["QueryExecutionId"]
        while True:
            ex = self.athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if time.perf_counter() - t > 300:
                raise TimeoutError(f"athena query {qid} still {ex['Status']['State']}")
            time.sleep(0.02)
        if ex["Status"]["State"] != "SUCCEEDED":
            raise RuntimeError(ex["Status"].get("StateChangeReason", ex["Status"]["State"]))
        self.athena.get_query_results(QueryExecutionId=qid)
        return (time.perf_counter() - t) * 1000, ex.get("Statistics", {}).get(
            "EngineExecutionTimeInMillis")

    def run(self) -> tuple[dict[str, Any], list[str]]:
        out: dict[str, Any] = {}
        errors = []
        probes: dict[str, Callable[[], tuple[float, float | None]]] = {
            "cli_select1": self.cli_select1, "http_select1": lambda: self._sql("select 1"),
            "http_count": lambda: self._sql("select count(*) from events"),
            "http_join": lambda: self._sql(JOIN), "http_tables": lambda: self._get("/tables"),
            # The viewer's first call on opening: a page of 200 rows from now on.
            "viewer_rows": lambda: self._get("/live/rows", t=int(time.time()), dir="after",
                                             limit=200),
            "athena_count": self.athena_count}
        for name, probe in probes.items():
            try:
                wall, server = probe()
                out[f"{name}_ms"], out[f"{name}_srv_ms"] = round(wall, 1), server
            except Exception as exc:  # noqa: BLE001 - a failed probe is a finding, not the end
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
        return out, errors


# -- the lake ---------------------------------------------------------------------------------
def lake_tables(settings: Any) -> dict[str, dict[str, int]]:
    """Per Delta table: its version, log objects, live data files and every .parquet object
    (live plus those a vacuum has not removed yet)."""
    from deltalake import DeltaTable

    from localcloud.config import emulator_client
    from tributary.load.lake import Lake

    lake = Lake(settings.lake_bucket, settings.region, settings.emulator_url)
    pages = emulator_client("s3", settings).get_paginator("list_objects_v2")
    out = {}
    for page in pages.paginate(Bucket=lake.bucket, Delimiter="/"):
        for prefix in (p["Prefix"] for p in page.get("CommonPrefixes", [])):
            keys = [o["Key"] for pg in pages.paginate(Bucket=lake.bucket, Prefix=prefix)
                    for o in pg.get("Contents", [])]
            log = [k for k in keys if "/_delta_log/" in k]
            if not log:
                continue
            name = prefix.rstrip("/")
            versions = [int(m.group(1)) for k in log if (m := LOG_FILE.search(k))]
            live = len(DeltaTable(lake.uri(name), storage_options=lake.options).file_uris())
            out[name] = {"version": max(versions, default=-1), "log": len(log), "live": live,
                         "parquet": sum(k.endswith(".parquet") for k in keys if k not in log)}
    return out


# -- recording --------------------------------------------------------------------------------
class Recorder:
    """Appends and flushes every row, so a killed run keeps what it sampled."""

    def __init__(self, out: Path, groups: list[str]) -> None:
        self.columns = ["t_s", "phase", *(f"{lat}_{k}" for lat in LATENCIES
                                          for k in ("ms", "srv_ms")),
                        "cpu_stack", *(f"cpu_{g}" for g in groups), "rss_stack",
                        *(f"rss_{g}" for g in groups), "calls", "calls_top3", "errors"]
        self.files = [(out / n).open("w", newline="") for n in ("samples.csv", "tables.csv")]
        self.samples = csv.DictWriter(self.files[0], self.columns)
        self.tables = csv.DictWriter(self.files[1], ["t_s", "phase", "table", *TABLE_FIELDS])
        self.samples.writeheader()
        self.tables.writeheader()
        self.rows = 0

    def add(self, row: dict[str, Any], tables: dict[str, dict[str, int]]) -> None:
        self.rows += 1
        self.samples.writerow(row)
        for name, figures in sorted(tables.items()):
            self.tables.writerow({"t_s": row["t_s"], "phase": row["phase"], "table": name,
                                  **figures})
        for f in self.files:
            f.flush()


class Soak:
    def __init__(self, settings: Any, stack: Any, out: Path) -> None:
        self.settings, self.stack = settings, stack
        self.cpu = Cpu()
        self.probes = Probes(settings)
        self.calls = self._calls()
        self.rec = Recorder(out, list(processes(stack)))
        self.started = time.monotonic()

    def _calls(self) -> Counter[str]:
        health = httpx.get(f"{self.settings.emulator_url}/_tributary/health", timeout=30).json()
        return Counter(health.get("calls", {}))

    def mark(self) -> None:
        self.cpu.mark(processes(self.stack))
        self.calls = self._calls()

    def sample(self, phase: str) -> None:
        groups = processes(self.stack)
        cpu = self.cpu.percent(groups)
        calls = self._calls() - self.calls
        row: dict[str, Any] = {"t_s": round(time.monotonic() - self.started), "phase": phase,
                               "cpu_stack": round(sum(cpu.values()), 1),
                               "rss_stack": total([p for ps in groups.values() for p in ps],
                                                  _rss_mb),
                               "calls": sum(calls.values()),
                               "calls_top3": "; ".join(f"{k} {n}" for k, n in
                                                       calls.most_common(3))}
        row |= {f"cpu_{g}": c for g, c in cpu.items()}
        row |= {f"rss_{g}": total(ps, _rss_mb) for g, ps in groups.items()}
        latencies, errors = self.probes.run()
        try:
            tables = lake_tables(self.settings)
        except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
            tables, errors = {}, [*errors, f"lake: {exc}"]
        self.rec.add(row | latencies | {"errors": " | ".join(errors)}, tables)
        print(f"[{row['t_s']:6d} s {phase}] stack CPU {row['cpu_stack']:5.1f}%  RSS "
              f"{row['rss_stack']:7.0f} MB  calls {row['calls']:6d}  "
              f"count {latencies.get('http_count_ms')} ms  join {latencies.get('http_join_ms')}"
              f" ms{'  ERRORS ' + ' | '.join(errors) if errors else ''}", flush=True)
        self.mark()

    def phase(self, name: str, minutes: float, every_s: float) -> None:
        # Each sample follows every_s of the stack alone, the probes' time coming on top: on a
        # loaded machine they take longer than a sample period, which would leave no window.
        end = time.monotonic() + minutes * 60
        while time.monotonic() + every_s <= end:
            time.sleep(every_s)
            self.sample(name)


def be_quiet(settings: Any) -> None:
    """No source has new data: snapshots held, the timeline's operations and Hallow's pushes
    paused. Every call is at run time: a restart would be a fresh stack, not a soaked one."""
    env = os.environ
    for url, body in ((f"{env['TRIBUTARY_SNAPSHOTS_URL']}/_sim/freeze", {"frozen": True}),
                      (f"{env['TRIBUTARY_TIMELINE_URL']}/control", {"paused": True}),
                      (f"{env['TRIBUTARY_HALLOW_URL']}/pause", {})):
        resp = httpx.post(url, json=body, timeout=30)
        print(f"quiet: POST {url} -> {resp.status_code} {resp.text[:100]}", flush=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the stack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=360, help="The busy phase.")
    ap.add_argument("--quiet-minutes", type=float, default=10, help="No source changes.")
    ap.add_argument("--sample-s", type=float, default=60,
                    help="Seconds of the stack alone before each sample (the probes follow).")
    ap.add_argument("--scale", type=float, default=0.1, help="TRIBUTARY_SCHEDULE_SCALE.")
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--base-port", type=int, default=5540, help="Uses this port .. +8.")
    ap.add_argument("--no-push", action="store_true", help="Hallow pushes nothing.")
    ap.add_argument("--keep", action="store_true", help="Leave the stack up at the end.")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="tributary-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"samples in {out}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    if args.keep:
        os.environ["TRIBUTARY_BENCH_KEEP"] = "1"
    settings, stack = start(args)
    soak: Soak | None = None
    try:
        import localcloud
        import tributary

        print(f"code: {Path(localcloud.__file__).parent}, {Path(tributary.__file__).parent}; "
              f"template {settings.template}; state {settings.home_dir}", flush=True)
        ingest(out)
        soak = Soak(settings, stack, out)
        soak.mark()
        soak.phase("busy", args.minutes, args.sample_s)
        if args.quiet_minutes > 0:
            be_quiet(settings)
            soak.phase("quiet", args.quiet_minutes, args.sample_s)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second ^C must not skip the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if soak is not None and soak.rec.rows:
            finish(out)
        if args.keep:
            print(f"stack left up: TRIBUTARY_HOME={settings.home_dir}")
        else:
            stack.down()


def start(args: argparse.Namespace) -> tuple[Any, Any]:
    try:
        settings, stack = fresh_stack(args.base_port, "soak", {
            "TRIBUTARY_SCHEDULE_SCALE": str(args.scale),
            # the lake's retention at the same pace as its schedules (an hour at scale 1)
            "TRIBUTARY_LAKE_RETENTION_S": os.environ.get(
                "TRIBUTARY_LAKE_RETENTION_S", str(max(1, round(3600 * args.scale)))),
            "TRIBUTARY_DATASYNC_EVENTS": str(args.events), "TRIBUTARY_TIMELINE_ROWS": "100000",
            "TRIBUTARY_HALLOW_PUSH": str(not args.no_push).lower()}, polling=_sources())
        return settings, stack
    except BaseException:  # a signal or a failure mid-start: stop what did start
        from localcloud.stack import Stack
        from tributary.settings import Settings

        if "TRIBUTARY_HOME" in os.environ:
            Stack(Settings()).down()
        raise


def ingest(out: Path) -> None:
    t = time.perf_counter()
    with (out / "ingest.log").open("w") as log:
        rc = subprocess.run([sys.executable, "-m", "localcloud.cli", "ingest", "--all",
                             "--wait"], stdout=log, stderr=subprocess.STDOUT).returncode
    took = time.perf_counter() - t
    print("".join((out / "ingest.log").read_text().splitlines(keepends=True)[-30:]))
    print(f"== tributary ingest --all --wait: exit {rc} in {took:.0f} s", flush=True)


def finish(out: Path) -> None:
    report(out)
    print(f"\nCSV: {out / 'samples.csv'}, {out / 'tables.csv'}")
    try:
        print(f"chart: {chart(out)}")
    except ImportError as exc:
        print(f"no chart ({exc}): .venv/bin/pip install -e '.[bench]'")


if __name__ == "__main__":
    main()
