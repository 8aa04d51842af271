"""The README works as written: every command block marked ``<!-- runnable -->`` is run, in
order, against a stack of its own, with the README's addresses (ports 4566 and 4580, the
``.tributary/`` folder) pointed at that stack. A command that fails, or a shown output
(the lines after a ``$ command``) that no longer matches, fails the test.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cloud, start_cloud, wait_for

pytestmark = pytest.mark.integration
BASE = 4990
MARK = "<!-- runnable -->"
# Smaller upstreams than the defaults: the commands are what is tested, not the volume.
ENV = {"TRIBUTARY_DATASYNC_EVENTS": "2000", "TRIBUTARY_DATASYNC_SESSIONS": "400",
       "TRIBUTARY_HALLOW_USERS": "1000", "TRIBUTARY_WEBHOOK_FLUSH_AGE_S": "1",
       "TRIBUTARY_BAZAAR_USERS": "40", "TRIBUTARY_BAZAAR_PAYMENTS": "300",
       "TRIBUTARY_BAZAAR_EXPORT_JOB_S": "1"}


@dataclass
class Command:
    line: int
    text: str
    shown: list[str] = field(default_factory=list)  # the output the README shows for it


def runnable(readme: str) -> list[Command]:
    """The commands of the marked blocks (indented by four spaces), in README order; in a
    block of ``$ command`` lines, the lines after each are the output it shows."""
    commands: list[Command] = []
    lines = readme.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        j, shell_session = i + 1, False
        while j < len(lines) and not lines[j].strip():
            j += 1
        while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
            text = lines[j][4:]
            if text.startswith("$ "):
                commands.append(Command(j + 1, text[2:]))
                shell_session = True
            elif text.strip() and shell_session:
                commands[-1].shown.append(text)
            elif text.strip():
                commands.append(Command(j + 1, text))
            j += 1
    return commands


def _shape(text: str) -> str:
    """Figures change from run to run; words and order do not."""
    return re.sub(r"\d[\d,.]*", "#", " ".join(text.split()))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("readme"), ROOT / "template.yaml", BASE, ENV,
                        polling=frozenset({"datasync", "hallow", "snapshots", "bazaar"}))
    yield c
    c.stack.down()
    mp.undo()


def _here(command: str, cloud: Cloud) -> str:
    """The README's addresses, pointed at this stack (and its checkout's ``.venv``)."""
    port = {"4566": cloud.settings.emulator_port, "4580": cloud.settings.runtime_port}
    command = re.sub(r"(localhost|127\.0\.0\.1):(4566|4580)",
                     lambda m: f"{m.group(1)}:{port[m.group(2)]}", command)
    command = command.replace("curl -s ", "curl -s --fail-with-body ")  # a 4xx/5xx fails
    return command.replace(".tributary/", f"{cloud.settings.home_dir}/") \
        .replace(".venv/", f"{ROOT}/.venv/")


def test_the_parser_finds_commands_and_their_output() -> None:
    found = runnable(f"{MARK}\n\n    a --b  # c\n\n    $ d; echo x\n    out 1\n    $ e\n\ntext\n")
    assert [(c.text, c.shown) for c in found] == [("a --b  # c", []), ("d; echo x", ["out 1"]),
                                                 ("e", [])]


def test_the_readme_runs_as_written(cloud: Cloud, tmp_path: Path) -> None:
    commands = runnable((ROOT / "README.md").read_text())
    assert len(commands) >= 20, "the README lost its runnable blocks"
    # The README queries pushed webhook events: the simulator pushes from the start, and a
    # flush lands them in the lake within seconds (of a minute, here)
    wait_for(lambda: cloud.keys("tributary-lake", "webhook_events/"), 120, 1,
             what="the first pushed events in the lake")
    env = {**cloud.env, "AWS_ENDPOINT_URL": cloud.settings.emulator_url,
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": cloud.settings.region}
    assigned: list[str] = []  # a block's `NAME=...` lines hold for the commands after them
    for c in commands:
        if re.match(r"^[A-Z_]+=", c.text):
            assigned.append(_here(c.text, cloud))
            continue
        script = "\n".join([*assigned, _here(c.text, cloud)])
        run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600, check=False)
        said = run.stdout + run.stderr
        if not c.shown:
            assert run.returncode == 0, f"README.md:{c.line}: `{c.text}` failed:\n{said[-3000:]}"
            continue
        got = {_shape(line) for line in said.splitlines()}
        missing = [s for s in c.shown if _shape(s) not in got]
        assert not missing, f"README.md:{c.line}: `{c.text}` no longer shows {missing}:\n{said}"
