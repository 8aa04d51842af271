"""Worker pools in isolation: results, errors, timeouts, memory limits, reuse."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.runtime.pool import FunctionPool
from localcloud.template import Function
from tests.conftest import FIXTURES


def _pool(tmp_path: Path, handler: str, timeout: float = 3, memory: int = 512) -> FunctionPool:
    fn = Function("Fn", "fn", FIXTURES / "handlers", handler, (), timeout, memory, {}, None,
                  False, (), (), ())
    return FunctionPool(fn, {"PATH": "/usr/bin"}, tmp_path, threading.BoundedSemaphore(4), 2)


@pytest.fixture
def pools(tmp_path: Path) -> Iterator[list[FunctionPool]]:
    made: list[FunctionPool] = []
    yield made
    for p in made:
        p.close()


def test_result_and_warm_reuse(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "app.ok")
    pools.append(pool)
    first = pool.invoke({"n": 1})
    second = pool.invoke({"n": 2})
    assert first.error is None and first.json()["echo"] == {"n": 1}
    assert first.cold_start and not second.cold_start
    assert first.json()["pid"] == second.json()["pid"]  # the environment was reused
    assert 0 < second.json()["remaining"] <= 3000


def test_exception_is_reported(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "app.fail")
    pools.append(pool)
    result = pool.invoke({})
    assert result.error == "Unhandled"
    assert result.json()["errorType"] == "RuntimeError"
    assert "nope" in (tmp_path / "fn.log").read_text()  # the traceback went to the log


def test_timeout_kills_and_replaces_the_worker(tmp_path: Path,
                                               pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "app.sleep", timeout=0.5)
    pools.append(pool)
    result = pool.invoke({"seconds": 5})
    assert result.json()["errorType"] == "Sandbox.Timedout"
    assert pool.invoke({"seconds": 0}).json() == "woke"
    assert pool.stats.timeouts == 1 and pool.stats.cold_starts == 2


def test_memory_limit_is_enforced(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "app.hog", memory=128)
    pools.append(pool)
    result = pool.invoke({"mb": 400})
    assert result.json()["errorType"] == "Runtime.OutOfMemory"


def test_unserializable_result_and_bad_handler(tmp_path: Path,
                                               pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "app.unserializable")
    pools.append(pool)
    assert pool.invoke({}).json()["errorType"] == "Runtime.MarshalError"
    missing = _pool(tmp_path, "nomodule.handler")
    pools.append(missing)
    assert missing.invoke({}).json()["errorType"] == "Runtime.ImportModuleError"
