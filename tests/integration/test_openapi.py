"""Every HTTP API's OpenAPI document tells the truth: schemathesis runs all its default
checks, in every phase, against each document the template's routes serve, on a running
stack whose live copy is there. A route added to the template is covered by adding nothing.

Each document runs twice: with a fixed seed (the same cases every run) and with a seed drawn
per run, which a failure prints; ``TRIBUTARY_SCHEMATHESIS_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.config import load_stack
from localcloud.credentials import api_token
from tests.conftest import Cloud

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).with_name("schemathesis.toml")
FIXED_SEED = 25


def _seed(kind: str) -> int:
    if kind == "fixed":
        return FIXED_SEED
    return int(os.environ.get("TRIBUTARY_SCHEMATHESIS_SEED") or random.randrange(2**31))


def _documents(cloud: Cloud) -> list[str]:
    template = load_stack(cloud.settings)
    return sorted(f"{cloud.settings.runtime_url}{r.path}" for fn in template.functions
                  for r in fn.routes if r.path.endswith("/openapi.json"))


def test_every_api_is_documented(live_cloud: Cloud) -> None:
    assert [d.rsplit("/", 2)[1] for d in _documents(live_cloud)] == \
        ["live", "query", "sources", "webhook"]


@pytest.mark.parametrize("seeded", ["fixed", "drawn"])
@pytest.mark.parametrize("api", ["live", "query", "sources", "webhook"])
def test_the_document_tells_the_truth(live_cloud: Cloud, api: str, seeded: str,
                                      tmp_path: Path) -> None:
    [document] = [d for d in _documents(live_cloud) if d.endswith(f"/{api}/openapi.json")]
    seed = _seed(seeded)
    replay = (f"schemathesis seed {seed}; replay with TRIBUTARY_SCHEMATHESIS_SEED={seed} "
              f"pytest 'tests/integration/test_openapi.py::test_the_document_tells_the_truth"
              f"[{api}-drawn]'\n")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG),
         "run", document, "--seed", str(seed), "--max-examples", "25", "--workers", "1",
         "-H", f"Authorization: Bearer {api_token(live_cloud.settings)}"],
        capture_output=True, text=True, timeout=240, check=False,
        cwd=tmp_path)  # schemathesis keeps a cache folder where it runs
    assert run.returncode == 0, replay + run.stdout[-6000:] + run.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert tested and int(tested.group(1)) >= 1, replay + run.stdout[-3000:]
