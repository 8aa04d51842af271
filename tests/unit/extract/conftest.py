"""A real DataSync simulator over real HTTP, per test, with the settings the test needs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from simulators.datasync.app import Api
from simulators.settings import DatasyncServerSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningSimulator:
    def __init__(self, cfg: DatasyncServerSettings) -> None:
        self.api = Api(cfg)
        self.cfg = cfg
        self.server = uvicorn.Server(uvicorn.Config(self.api.app(), host="127.0.0.1",
                                                    port=cfg.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningSimulator:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture
def simulator() -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def start(**overrides: Any) -> RunningSimulator:
        defaults: dict[str, Any] = {"events": 3000, "sessions": 60, "users": 10, "days": 2}
        cfg = DatasyncServerSettings(url=f"http://127.0.0.1:{_free_port()}",
                                     **{**defaults, **overrides})
        sim = RunningSimulator(cfg).__enter__()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.__exit__(None, None, None)
