"""`stack up` with no webhook signing secret: a warning by default, a refusal when asked."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from localcloud.cli import app
from tributary.settings import get_settings


def test_an_unsigned_webhook_is_refused_when_the_setting_says_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path))
    monkeypatch.setenv("TRIBUTARY_WEBHOOK_UNSIGNED", "refuse")
    monkeypatch.delenv("TRIBUTARY_WEBHOOK_SIGNING_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(app, ["stack", "up"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 1
    assert "stack up refused: the webhook has no signing secret" in out.output
