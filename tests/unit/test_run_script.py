"""The README's test command (``sh tests/run.sh``) on machines that lack the suite's Debian
packages: it installs them as root or through sudo, and otherwise stops with the one line to
run. Each case runs the script with a PATH of stubs that record how they were called."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = "chromium podman runc debootstrap fuse3"


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, uid: int, *stubs: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The script with only ``stubs`` (and the shell's own tools) on PATH, as user ``uid``;
    what it printed, and what the stubs recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool in ("dirname", "ls"):
        os.symlink(shutil.which(tool) or tool, bin_dir / tool)
    _stub(bin_dir, "id", f"echo {uid}")
    for name in stubs:  # apt-get and sudo record their arguments, and succeed
        _stub(bin_dir, name, f'echo "{name} $*" >> {calls}')
    out = subprocess.run(["/bin/sh", str(ROOT / "tests" / "run.sh")], capture_output=True,
                         text=True, env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                         timeout=30, check=False)
    return out, calls.read_text() if calls.exists() else ""


def test_without_root_or_sudo_it_prints_the_one_line_to_run(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, 1000, "apt-get")
    assert out.returncode == 1
    assert f"apt-get update && apt-get install -y {PACKAGES}" in out.stderr
    assert calls == ""  # nothing was attempted


def test_through_sudo_when_there_is_one(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, 1000, "apt-get", "sudo")
    assert f"sudo apt-get install -y -qq {PACKAGES}" in calls, (calls, out.stderr)
    # The stubs install nothing, so the next check (Node.js) stops it, naming what it needs.
    assert out.returncode == 1 and "Node.js 20" in out.stderr


def test_as_root_it_installs_them_itself(tmp_path: Path) -> None:
    out, calls = _run(tmp_path, 0, "apt-get")
    assert calls.splitlines() == ["apt-get update -qq", f"apt-get install -y -qq {PACKAGES}"]


@pytest.mark.parametrize("uid", [0, 1000])
def test_without_apt_it_names_the_packages(tmp_path: Path, uid: int) -> None:
    out, _ = _run(tmp_path, uid)
    assert out.returncode == 1
    assert f"the tests need: {PACKAGES}" in out.stderr and "no apt-get" in out.stderr
