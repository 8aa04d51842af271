"""Generated APIs through the embedded stack: declare them, serve them, ingest, compare.

How a generated source reaches the stack: its YAML goes into a temporary folder that
``TRIBUTARY_SOURCES_DIR`` names before the stack starts (the runtime's workers read the
folder once, so every source is there from the start). ``tributary ingest --source`` needs
no schedule: with no rule deployed the source is not "paused", and the fetch is invoked
directly. A source that should also be polled gets its rule from a copy of template.yaml
whose fetch function's ``Events`` are the ones ``localcloud.schedules`` derives from the
declarations (what ``tributary sources`` prints).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from localcloud.ingest import lake
from localcloud.schedules import schedule_events, template_block
from tests.conftest import ROOT, Cloud, serve, start_cloud
from tests.generative import features as F
from tests.generative.api import Api, Row
from tests.generative.declare import declaration
from tests.generative.server import Upstream
from tributary.sources.loader import load_dir

SEEDS_ENV = "TRIBUTARY_GEN_SEEDS"
# Keep the simulators the generated APIs do not need from starting (2 cores).
NOT_HERE = "http://simulator.invalid:9"
QUIET = {"TRIBUTARY_DATASYNC_URL": NOT_HERE, "TRIBUTARY_SNAPSHOTS_URL": NOT_HERE,
         "TRIBUTARY_BAZAAR_URL": NOT_HERE, "TRIBUTARY_TIMELINE_URL": NOT_HERE,
         "TRIBUTARY_SCHEDULE_SCALE": "1000"}


def reproduce(seeds: list[int], test: str, on: frozenset[str] | None = None) -> str:
    """The one command that runs these seeds again with the same features."""
    env = [f"{SEEDS_ENV}={','.join(map(str, seeds))}"]
    if on is not None and on != F.defaults():
        edits = [f"-{f}" for f in sorted(F.defaults() - on)] + \
            [f"+{f}" for f in sorted(on - F.defaults())]
        env.append(f"{F.ENV}={','.join(edits)}")
    return (" ".join(env) + " flock /tmp/tributary-it.lock .venv/bin/pytest "
            f"tests/generative/test_generated_apis.py -k {test}")


def write_sources(apis: list[Api], folder: Path, port: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for api in apis:
        (folder / f"{api.name}.yaml").write_text(declaration(api, port))


def template_with_schedules(folder: Path, dest: Path) -> Path:
    """template.yaml with the fetch function's schedules replaced by the declared sources'."""
    text = (ROOT / "template.yaml").read_text()
    block = template_block(schedule_events(load_dir(folder)))
    start = text.index("FunctionName: tributary-fetch\n")
    events = re.compile(r"\n      Events:\n(?:        .*\n|\n(?=        ))*").search(text, start)
    assert events is not None, "template.yaml: the fetch function has no Events"
    text = text[:events.start()] + "\n" + block + "\n" + text[events.end():]
    # Code paths are relative to the template's folder: the copy's lives elsewhere.
    text = re.sub(r"^(\s+(?:CodeUri|ContentUri|Dockerfile|DockerContext): )(?!/)(\S+)$",
                  lambda m: m.group(1) + str((ROOT / m.group(2)).resolve()), text,
                  flags=re.MULTILINE)
    dest.write_text(text)
    return dest


@dataclass
class Stack:
    cloud: Cloud
    upstream: Upstream
    mp: pytest.MonkeyPatch
    server: Any

    def down(self) -> None:
        self.server.should_exit = True
        self.cloud.stack.down()
        self.mp.undo()


def start(home: Path, apis: list[Api], base: int, *, schedules: bool = False,
          env: dict[str, str] | None = None) -> Stack:
    """One stack on ports base..base+9 and one server for every API on base+6."""
    folder = home / "sources"
    write_sources(apis, folder, base + 6)
    template = template_with_schedules(folder, home / "template.yaml") if schedules \
        else ROOT / "template.yaml"
    upstream = Upstream(apis)
    server = serve(upstream.app.routes, base + 6)
    polling = frozenset(a.name for a in apis) if schedules else frozenset()
    try:
        cloud, mp = start_cloud(home, template, base, {
            **QUIET, **(env or {}), "TRIBUTARY_SOURCES_DIR": str(folder)}, polling=polling)
    except BaseException:
        server.should_exit = True
        raise
    # Only the generated sources' schedules fire: the others' would share the 2 cores.
    events = cloud.client("events")
    for rule in events.list_rules()["Rules"]:
        if rule["Name"].removeprefix("tributary-fetch-") not in polling:
            events.disable_rule(Name=rule["Name"])
    return Stack(cloud, upstream, mp, server)


def ingest(cloud: Cloud, apis: list[Api], timeout: float) -> subprocess.CompletedProcess[str]:
    args = [x for a in apis for x in ("--source", a.name)]
    try:
        return cloud.cli("ingest", *args, "--wait", "--timeout", f"{timeout:.0f}",
                         timeout=timeout + 60)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return subprocess.CompletedProcess(exc.cmd, -9, out + "\n[killed: never ended]", "")


def summaries(cloud: Cloud) -> dict[str, dict[str, Any]]:
    """Each stream's ``--wait`` summary figures (``status --json``), by source/stream."""
    out = cloud.cli("status", "--json", timeout=120)
    if out.returncode != 0:
        return {}
    streams: dict[str, dict[str, Any]] = json.loads(out.stdout)["streams"]
    return {name: s.get("summary", {}) for name, s in streams.items()}


# -- what the tables hold ------------------------------------------------------------------------
Held = dict[str, tuple[str, int, int]]  # key -> (name, amount, instant in ms)


def postgres_rows(cloud: Cloud, table: str, key: str) -> Held | None:
    if cloud.sql("SELECT to_regclass(%s)", table) == [(None,)]:
        return None
    rows = cloud.sql(f'SELECT "{key}", name, amount, '  # noqa: S608 - generated names
                     f"(extract(epoch FROM stamp) * 1000)::bigint FROM {table}")
    return {str(k): (n, a, s) for k, n, a, s in rows}


def lake_rows(cloud: Cloud, table: str, key: str) -> Held | None:
    """The lake's newest version of each key (it keeps every version)."""
    files = lake(cloud.settings).read(table, [key, "name", "amount", "stamp", "_ingested_at"])
    if files is None:
        return None
    if not files:
        return {}
    data = pa.concat_tables([t for _, t in files]).to_pylist()
    newest: dict[str, dict[str, Any]] = {}
    for r in sorted(data, key=lambda r: r["_ingested_at"]):
        newest[str(r[key])] = r
    return {k: (r["name"], r["amount"], int(r["stamp"].timestamp() * 1000))
            for k, r in newest.items()}


def _want(truth: dict[str, Row]) -> Held:
    return {k: (r.name, r.amount, r.at_ms) for k, r in truth.items()}


def differences(want: Held, got: Held | None, where: str) -> list[str]:
    if got is None:
        return [f"{where}: no table"] if want else []
    missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
    wrong = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])
    out = []
    if missing:
        out.append(f"{where}: {len(missing)} of {len(want)} rows missing, e.g. "
                   f"{sorted(missing)[:3]}")
    if extra:
        out.append(f"{where}: {len(extra)} rows not upstream, e.g. {sorted(extra)[:3]}")
    if wrong:
        k = wrong[0]
        out.append(f"{where}: {len(wrong)} rows differ, e.g. {k}: want {want[k]}, got {got[k]}")
    return out


@dataclass
class Outcome:
    api: Api
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        kinds = ", ".join(f"{s.name}: {s.style}/{s.shape}" + (
            "/child" if s.child_of else "") + (f"/inc-{s.incremental.bound}"
                                               if s.incremental else "") + (
            f"/{s.body_format}" if s.body_format != "json" else "") + (
            f"/export-{s.export.url}" if s.export else "")
                          for s in self.api.streams)
        return f"{self.api.name} (auth {self.api.auth.kind}; {kinds}; chaos " \
               f"{sorted(self.api.chaos)})"


def check(cloud: Cloud, api: Api, verdicts: dict[str, dict[str, Any]],
          streams: set[str] | None = None) -> list[str]:
    """Every healthy stream of ``api``: PostgreSQL = lake = truth, and its verdict OK."""
    problems = []
    for name, truth in api.truth().items():
        if streams is not None and name not in streams:
            continue
        s = api.stream(name)
        table, want = f"{api.name}_{name}", _want(truth)
        problems += differences(want, postgres_rows(cloud, table, s.key_column),
                                f"{name} postgres")
        problems += differences(want, lake_rows(cloud, table, s.key_column), f"{name} lake")
        verdict = verdicts.get(f"{api.name}/{name}")
        if verdict is None or not verdict.get("ok"):
            problems.append(f"{name} verdict not OK: {verdict}")
    return problems


def export_jobs(upstream: Upstream, api: Api, before: Counter[tuple[str, str]]) -> list[str]:
    """A pass makes at most one export job per export stream (``before``: the jobs made
    before it): a job saved in the checkpoint is polled again, never started twice."""
    out = []
    for s in api.streams:
        made = upstream.jobs[api.name, s.name] - before[api.name, s.name]
        if s.export is not None and made > 1:
            out.append(f"{s.name}: {made} export jobs created in one pass (at most 1)")
    return out


def run_passes(stack: Stack, apis: list[Api], timeout: float) -> tuple[
        list[Outcome], list[subprocess.CompletedProcess[str]]]:
    """Ingest every API, apply the edits, ingest again; each API's problems."""
    outcomes = {a.name: Outcome(a) for a in apis}
    runs = []
    for pass_no in (1, 2):
        before = Counter(stack.upstream.jobs)
        out = ingest(stack.cloud, apis, timeout)
        runs.append(out)
        verdicts = summaries(stack.cloud)
        for a in apis:
            found = check(stack.cloud, a, verdicts) + export_jobs(stack.upstream, a, before)
            outcomes[a.name].problems += [f"pass {pass_no}: {p}" for p in found]
            failed_lines = list(dict.fromkeys(  # progress repeats them every poll
                line.strip() for line in out.stdout.splitlines()
                if f"{a.name}/" in line and "FAIL" in line.upper()))[-2:]
            outcomes[a.name].problems += [f"pass {pass_no} summary: {line}"
                                          for line in failed_lines]
        if pass_no == 1:
            for a in apis:
                a.version = 1
    return list(outcomes.values()), runs


def seeds(n: int, fixed: tuple[int, ...] = (1, 2, 3, 5, 8)) -> tuple[list[int], int | None]:
    """The seeds of a run: ``TRIBUTARY_GEN_SEEDS`` if set; otherwise the fixed ones and
    the rest from a base drawn now (returned, to be printed)."""
    told = os.environ.get(SEEDS_ENV, "").strip()
    if told:
        return [int(s) for s in re.split(r"[,\s]+", told) if s], None
    base = int.from_bytes(os.urandom(3), "big") * 100
    return list(fixed[:n]) + [base + i for i in range(max(0, n - len(fixed)))], base
