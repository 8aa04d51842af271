"""The client environments the client tests run in: ``pinned`` is the project's own
environment (the versions pyproject.toml pins), ``newest`` a virtualenv with the newest release
of each client, as pinned in ``infra/clients/newest.txt`` (refreshed by
``infra/clients/refresh-newest.py``). A protocol change in a new client is then caught here.

The newest environment is built once under ``.tributary-clients/newest`` and reused until the
constraints change; a lock keeps concurrent test runs from building it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Cloud

ROOT = Path(__file__).resolve().parents[2]
NEWEST = ROOT / "infra" / "clients" / "newest.txt"
CACHE = ROOT / ".tributary-clients"
USER = Path(__file__).resolve().parent / "user_clients.py"
KINDS = ("pinned", "newest")


@dataclass(frozen=True)
class ClientEnv:
    name: str
    bin: Path  # its python, awslocal, aws

    def run(self, env: dict[str, str], job: str, *args: str, timeout: float = 180) -> Any:
        """A job of ``user_clients.py`` run by this environment's python; its JSON result."""
        return json.loads(self.command(env, str(self.bin / "python"), str(USER), job, *args,
                                       timeout=timeout))

    def command(self, env: dict[str, str], program: str, *args: str,
                timeout: float = 180) -> str:
        """A program of this environment (``awslocal``, ...) as a user runs it; its stdout."""
        path = program if os.sep in program else str(self.bin / program)
        # Only the environment's own packages: not the project's, which PYTHONPATH may add.
        clean = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        out = subprocess.run([path, *args], env=clean, capture_output=True, text=True,
                             timeout=timeout, check=False)
        assert out.returncode == 0, f"{self.name}: {program} {' '.join(args)}\n{out.stderr}"
        return out.stdout

    def versions(self) -> dict[str, str]:
        code = ("import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n "
                f"in {sorted(_names())!r}}}))")
        out = subprocess.run([str(self.bin / "python"), "-c", code], capture_output=True,
                             text=True, check=True)
        return dict(json.loads(out.stdout))


def user_environment(cloud: Cloud) -> dict[str, str]:
    """The environment a user's clients find the stack by (boto3 reads AWS_ENDPOINT_URL,
    awslocal LOCALSTACK_HOST)."""
    return {**cloud.env, "AWS_ENDPOINT_URL": cloud.settings.emulator_url,
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": cloud.settings.region,
            "LOCALSTACK_HOST": f"127.0.0.1:{cloud.settings.emulator_port}"}


def client_env(kind: str, say: Callable[[str], None]) -> ClientEnv:
    if kind == "pinned":
        return ClientEnv(kind, Path(sys.executable).parent)
    return ClientEnv(kind, _newest(say))


def _names() -> list[str]:
    return [m[1] for line in NEWEST.read_text().splitlines()
            if (m := re.match(r"^([A-Za-z0-9._-]+)==", line))]


def _newest(say: Callable[[str], None]) -> Path:
    venv = CACHE / "newest"
    stamp = venv / "constraints.sha256"
    want = hashlib.sha256(NEWEST.read_bytes() + sys.version.encode()).hexdigest()
    CACHE.mkdir(exist_ok=True)
    with (CACHE / "newest.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == want:
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                              "-c", str(NEWEST), *_names()],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"installing the newest clients failed:\n{out.stderr}"
        stamp.write_text(want)  # last: a build cut short is built again
        say(f"built the newest clients' environment in {time.monotonic() - began:.1f} s "
            f"({', '.join(_names())} from {NEWEST.relative_to(ROOT)})")
        return venv / "bin"
