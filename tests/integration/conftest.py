"""Fixtures of the integration tests that are not the stacks (those are tests/conftest.py's)."""

from __future__ import annotations

import pytest

from tests.integration.clients import KINDS, ClientEnv, client_env


# Per module, not per session: a session parameter would regroup the tests across modules,
# and each module's stack would start once per parameter.
@pytest.fixture(scope="module", params=KINDS)
def client(request: pytest.FixtureRequest) -> ClientEnv:
    """The environment a client test's clients run in: the pinned versions, then the newest
    (built once; see ``clients.py``)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    env = client_env(request.param, lambda line: reporter.write_line(line) if reporter
                     else print(line))
    if reporter:
        reporter.write_line(f"{env.name} clients: {env.versions()}")
    return env
