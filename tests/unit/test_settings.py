"""Settings: one place, TRIBUTARY_ prefix, working defaults, secrets kept out of output."""

from __future__ import annotations

import pytest

from tributary.settings import Settings


def test_defaults_work_without_any_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("TRIBUTARY_")]:
        monkeypatch.delenv(key)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.emulator_url == "http://127.0.0.1:4566"
    assert s.pg_is_local


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_EMULATOR_PORT", "4999")
    monkeypatch.setenv("TRIBUTARY_PG_DSN", "postgresql://u:pw@db.example.com:5432/x")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.emulator_url.endswith(":4999")
    assert not s.pg_is_local  # a remote database is used, not started


def test_dsn_password_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_PG_DSN", "postgresql://u:hunter2@127.0.0.1:5433/x")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_SCHEDULE_SCALE", "-1")
    with pytest.raises(ValueError, match="schedule_scale"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_unknown_timestamp_forms_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulators.settings import DatasyncServerSettings

    monkeypatch.setenv("TRIBUTARY_DATASYNC_TIMESTAMP_FORMS", '["iso_z", "nope"]')
    with pytest.raises(ValueError, match=r"unknown timestamp forms \['nope'\]"):
        DatasyncServerSettings()


@pytest.mark.parametrize("stored", ["s3cr3t/p@ss", '{"username": "u", "password": "s3cr3t/p@ss"}'])
def test_the_database_password_comes_from_secrets_manager(
        monkeypatch: pytest.MonkeyPatch, stored: str) -> None:
    """On AWS the template passes the secret's ARN; the DSN's own password is replaced."""
    import boto3
    from moto import mock_aws

    from tributary.settings import get_settings

    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tributary/pg", SecretString=stored)["ARN"]
        monkeypatch.setenv("TRIBUTARY_PG_DSN", "postgresql://u:placeholder@db.example.com:5432/x")
        monkeypatch.setenv("TRIBUTARY_PG_PASSWORD_SECRET", arn)
        get_settings.cache_clear()
        try:
            dsn = get_settings().pg_dsn.get_secret_value()
        finally:
            get_settings.cache_clear()
    assert dsn == "postgresql://u:s3cr3t%2Fp%40ss@db.example.com:5432/x"
