"""What every benchmark needs: a fresh embedded stack on ports of its own, and percentiles."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from localcloud.runtime.pool import percentile

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["ROOT", "fresh_stack", "percentile"]


def fresh_stack(base_port: int, name: str, env: dict[str, str] | None = None,
                polling: frozenset[str] = frozenset(), from_build: bool = False) -> Any:
    """Start (and deploy) a stack in a temporary state folder on ``base_port`` .. +8, with
    only the ``polling`` sources' schedules enabled (no background traffic in a benchmark);
    ``from_build``: every function from ``tributary build``'s artifacts (built first).

    Returns ``(settings, stack)``; callers stop it with ``stack.down()``. The folder is
    removed when the benchmark exits, unless ``TRIBUTARY_BENCH_KEEP`` is set.
    """
    home = Path(tempfile.mkdtemp(prefix=f"tributary-{name}-bench-"))
    if not os.environ.get("TRIBUTARY_BENCH_KEEP"):  # a 3M-event run leaves 3.4 GB
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.update({
        "TRIBUTARY_HOME": str(home), "TRIBUTARY_TEMPLATE": str(ROOT / "template.yaml"),
        "TRIBUTARY_EMULATOR_PORT": str(base_port), "TRIBUTARY_RUNTIME_PORT": str(base_port + 1),
        "TRIBUTARY_PG_DSN": f"postgresql://tributary:tributary@127.0.0.1:{base_port + 2}/tributary",
        "TRIBUTARY_DATASYNC_URL": f"http://127.0.0.1:{base_port + 3}",
        "TRIBUTARY_HALLOW_PORT": str(base_port + 4), "TRIBUTARY_HALLOW_PUSH": "false",
        "TRIBUTARY_HALLOW_URL": f"http://127.0.0.1:{base_port + 4}",
        "TRIBUTARY_SNAPSHOTS_URL": f"http://127.0.0.1:{base_port + 5}",
        "TRIBUTARY_TIMELINE_URL": f"http://127.0.0.1:{base_port + 6}",
        "TRIBUTARY_ATHENA_PORT": str(base_port + 7),
        "TRIBUTARY_BAZAAR_URL": f"http://127.0.0.1:{base_port + 8}",
        "TRIBUTARY_TIMELINE_ROWS": "2000",
        "TRIBUTARY_RUNTIME_FROM_BUILD": str(from_build).lower(),
        **(env or {}),
    })
    from localcloud.config import emulator_client, load_stack
    from localcloud.deploy import Deployer
    from localcloud.stack import Stack
    from tributary.settings import Settings

    settings = Settings()
    if from_build:
        from localcloud.build import build

        build(load_stack(settings), settings.template, home / "build", settings.build_tools)
    stack = Stack(settings)
    stack.up(lambda: Deployer(load_stack(settings), settings).run())
    events = emulator_client("events", settings)
    for rule in events.list_rules(NamePrefix="tributary-fetch-")["Rules"]:
        if rule["Name"].removeprefix("tributary-fetch-") not in polling:
            events.disable_rule(Name=rule["Name"])
    return settings, stack
