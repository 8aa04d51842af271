"""A user's mistakes through the CLI, as a user makes them: one line saying what to do, a
non-zero exit, no traceback (unless --debug). Nothing runs on the ports these use."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., subprocess.CompletedProcess[str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tributary(tmp_path: Path) -> Run:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TRIBUTARY_HOME": str(tmp_path),
           "TRIBUTARY_EMULATOR_PORT": str(_free_port()),
           "TRIBUTARY_RUNTIME_PORT": str(_free_port()),
           "TRIBUTARY_PG_DSN": f"postgresql://tributary:secret-pw@127.0.0.1:{_free_port()}/t"}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "localcloud.cli", *args], cwd=ROOT,
                              env=env | extra, capture_output=True, text=True, timeout=120,
                              check=False)
    return run


def _told(out: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    text = out.stdout + out.stderr
    assert out.returncode == code, text
    assert "Traceback" not in text, text
    for w in words:
        assert w in " ".join(text.split()), text


def test_the_stack_not_running_is_named_with_what_to_do(tributary: Run) -> None:
    _told(tributary("status"), 1, "cannot reach the AWS emulator", "tributary stack up")
    _told(tributary("stats"), 1, "cannot reach the function runtime", "tributary stack up")
    out = tributary("query", "select 1")
    _told(out, 1, "cannot reach PostgreSQL")
    assert "secret-pw" not in out.stdout + out.stderr


def test_an_unknown_source_lists_the_declared_ones(tributary: Run) -> None:
    _told(tributary("ingest", "--source", "nosuch"), 1,
          "unknown source 'nosuch'; declared: "
          "['bazaar', 'datasync', 'hallow', 'snapshots', 'timeline']")
    _told(tributary("replay", "--rejects", "--source", "nosuch"), 1, "unknown source 'nosuch'")
    _told(tributary("pause", "nosuch"), 1, "unknown source 'nosuch'")


def test_a_broken_declaration_is_named_by_file_and_field(tributary: Run, tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "shop.yaml").write_text(
        "name: shop\nbase_url: http://127.0.0.1:1\nstreams:\n  - name: orders\n"
        "    endpoint: /orders\n    records_path: data\n    primary_key: id\n"
        "    table: shop_orders\n    columns: {id: {}}\n    pagination: {style: cursor}\n")
    told = ("shop.yaml: streams[orders].pagination: Value error, a cursor comes from "
            "next_cursor_path or cursor_from_record: name exactly one",)
    _told(tributary("sources", TRIBUTARY_SOURCES_DIR=str(folder)), 1, *told)
    _told(tributary("validate", TRIBUTARY_SOURCES_DIR=str(folder)), 1, *told,
          "1 problem(s) found")


def test_bad_options_are_usage_errors(tributary: Run) -> None:
    _told(tributary("query", "select 1", "--format", "xml"), 2, "--format is table, csv or json")
    _told(tributary("ingest"), 2, "name a --source, or --all")
    _told(tributary("invoke", "tributary-fetch", "--payload", "{nope"), 2,
          "--payload is not JSON")


def test_debug_shows_the_traceback_too(tributary: Run) -> None:
    out = tributary("--debug", "status")
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "cannot reach the AWS emulator" in out.stdout


def test_validate_passes_the_project_as_it_is(tributary: Run) -> None:
    out = tributary("validate")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the declarations in" in out.stdout and "are valid" in out.stdout


def test_a_source_with_no_schedule_fails_validate_with_the_block_to_add(
        tributary: Run, tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    shutil.copytree(ROOT / "sources", folder)
    (folder / "gadgets.yaml").write_text(
        "name: gadgets\nbase_url: http://127.0.0.1:1\nstreams:\n  - {name: gadgets, "
        "endpoint: /g, records_path: items, primary_key: sku, pagination: {style: single}, "
        "table: gadgets, columns: {sku: {}}}\n")
    out = tributary("validate", TRIBUTARY_SOURCES_DIR=str(folder))
    _told(out, 1, "gadgets declared in", "not polled", "1 problem(s) found")
    assert "    PollGadgets:\n" in out.stdout and "Name: tributary-fetch-gadgets" in out.stdout
