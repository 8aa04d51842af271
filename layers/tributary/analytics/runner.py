"""``tributary models run``: dbt over the analytics project, as a dbt user would run it.

dbt itself runs in the project folder (so its profile, ``target/`` and ``logs/`` are where
``dbt run`` there puts them). What this adds: models downstream of a lake table that has not
landed yet are left out, with the reason, instead of failing the whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LAKE_SOURCE = "lake"


class ModelsError(RuntimeError):
    """dbt could not be started or left no results; the message says why."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str  # model.tributary.<name> or test.tributary.<name>.<hash>
    status: str  # success / error / pass / fail / warn / skipped
    exported: bool  # a model written to the lake (macros/export_to_lake.sql)

    @property
    def kind(self) -> str:
        return self.unique_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.unique_id.split(".")[2]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    results: list[NodeResult]
    not_landed: list[str]  # lake tables whose downstream models were left out


def lake_sources(project: Path) -> list[str]:
    """The tables the project declares in its ``lake`` source."""
    names: list[str] = []
    for path in sorted((project / "models").rglob("*.yml")):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            if source.get("name") == LAKE_SOURCE:
                names += [t["name"] for t in source.get("tables", [])]
    return names


def dbt_args(command: str, not_landed: Iterable[str], select: str | None) -> list[str]:
    args = [command]
    if select:
        args += ["--select", select]
    excluded = [f"source:{LAKE_SOURCE}.{name}+" for name in not_landed]
    if excluded:
        args += ["--exclude", *excluded]
    return args


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")  # the one installed with Tributary
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise ModelsError("dbt is not installed (pip install -e . installs dbt-duckdb)")
    return found


def run(project: Path, landed: set[str], command: str = "build",
        select: str | None = None) -> Outcome:
    """Run ``dbt <command>`` in ``project``; its output goes to this process's."""
    if not (project / "dbt_project.yml").exists():
        raise ModelsError(f"{project}: not a dbt project (no dbt_project.yml)")
    not_landed = [t for t in lake_sources(project) if t not in landed]
    target = project / "target"
    (target / "run_results.json").unlink(missing_ok=True)
    env = os.environ | ({} if sys.stdout.isatty() else {"DBT_USE_COLORS": "false"})
    proc = subprocess.run([dbt_executable(), *dbt_args(command, not_landed, select)],
                          cwd=project, env=env, check=False)
    return Outcome(proc.returncode, read_results(target), not_landed)


def parse(project: Path) -> list[str]:
    """Problems ``dbt parse`` finds in ``project`` (bad Jinja, unknown refs and sources, bad
    YAML): offline, no database opened. Empty when it parses."""
    if not (project / "dbt_project.yml").exists():
        return [f"{project}: not a dbt project (no dbt_project.yml)"]
    proc = subprocess.run([dbt_executable(), "--no-use-colors", "--quiet", "parse"], cwd=project,
                          capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return []
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return [f"dbt ({project}): " + " ".join(lines[-6:])]


def read_results(target: Path) -> list[NodeResult]:
    """The nodes of the last dbt run, from its ``run_results.json`` and ``manifest.json``."""
    if not (target / "run_results.json").exists():
        return []  # dbt failed before running anything; its own output says why
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    return [NodeResult(r["unique_id"], r["status"], _exported(nodes.get(r["unique_id"])))
            for r in json.loads((target / "run_results.json").read_text())["results"]]


def _exported(node: dict[str, Any] | None) -> bool:
    hooks = (node or {}).get("config", {}).get("post-hook", [])
    return any("export_to_lake" in hook.get("sql", "") for hook in hooks)
