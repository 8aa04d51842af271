"""What unit tests of the CLI share: a sources folder of their own, and the CLI run in
process (its output with whitespace folded, so wrapped lines read as one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localcloud.cli import app
from tributary.settings import get_settings


@pytest.fixture
def sources_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "sources"
    folder.mkdir()
    monkeypatch.setenv("TRIBUTARY_SOURCES_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    monkeypatch.undo()
    get_settings.cache_clear()


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())
