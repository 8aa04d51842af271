"""The zip functions ship without numpy, pyarrow or DuckDB (the layer holds none of them):
their modules must load without them. ``tributary build`` checks the artifacts; this says
the same in a second."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "pyarrow", "duckdb", "deltalake")


@pytest.mark.parametrize("module", ["tributary.extract.fetch", "tributary.webhook.handler",
                                    "tributary.api.authorizer"])
def test_a_zip_functions_module_loads_nothing_heavy(module: str) -> None:
    code = (f"import sys, {module}; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
