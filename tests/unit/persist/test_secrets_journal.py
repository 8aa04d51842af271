"""Secrets Manager survives a restart of the emulator: a rotated refresh token there is the
only one that works (extract/auth.py keeps it there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from moto import mock_aws
from werkzeug.test import Client

from localcloud.emulator import build_app
from localcloud.persist import journal


def _secrets(app: Any, operation: str, **body: Any) -> Any:
    return journal.call(Client(app), "secretsmanager", "us-east-1", operation,
                        orjson.dumps(body))


def test_a_secret_s_current_value_outlives_a_restart(tmp_path: Path) -> None:
    with mock_aws():  # moto's state, in process, is the emulator's
        app = build_app("http://127.0.0.1:9", tmp_path)
        _secrets(app, "CreateSecret", Name="tributary/shop/refresh_token",
                 SecretString='{"refresh_token": "rt-1"}', Description="d")
        _secrets(app, "PutSecretValue", SecretId="tributary/shop/refresh_token",
                 SecretString='{"refresh_token": "rt-2"}')
        _secrets(app, "CreateSecret", Name="gone", SecretString="x")
        _secrets(app, "DeleteSecret", SecretId="gone", ForceDeleteWithoutRecovery=True)
    for _ in range(2):  # a restart replays the journal, then the snapshot it was rewritten as
        with mock_aws():
            app = build_app("http://127.0.0.1:9", tmp_path)
            names = [s["Name"] for s in _secrets(app, "ListSecrets")["SecretList"]]
            assert names == ["tributary/shop/refresh_token"]
            value = _secrets(app, "GetSecretValue", SecretId="tributary/shop/refresh_token")
            assert value["SecretString"] == '{"refresh_token": "rt-2"}'
