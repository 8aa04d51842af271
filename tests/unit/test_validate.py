"""Offline template checks: the real template passes; broken ones fail with a clear finding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localcloud.validate import validate
from tests.conftest import FIXTURES, ROOT


@pytest.mark.parametrize("template", [ROOT / "template.yaml",
                                      FIXTURES / "probe" / "template.yaml"])
def test_real_templates_translate_and_lint_clean(template: Path) -> None:
    assert validate(template) == []


def _copy_project(tmp_path: Path) -> Path:
    for folder in ("functions", "layers", "infra/lambda-image"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    return tmp_path / "template.yaml"


def test_broken_reference_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    text = (ROOT / "template.yaml").read_text()
    assert "!GetAtt HeartbeatQueue.Arn" in text
    path.write_text(text.replace("!GetAtt HeartbeatQueue.Arn", "!GetAtt MissingQueue.Arn"))
    problems = validate(path)
    assert problems and any("MissingQueue" in p for p in problems), problems


def test_broken_ref_in_environment_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    text = (ROOT / "template.yaml").read_text()
    path.write_text(text.replace("!Ref RawBucket", "!Ref RawBukket", 1))
    problems = validate(path)
    assert any("RawBukket" in p for p in problems), problems


def test_missing_code_folder_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    shutil.rmtree(tmp_path / "functions" / "heartbeat_sink")
    assert validate(path) == [
        "Resources.HeartbeatSinkFunction.CodeUri: no folder 'functions/heartbeat_sink/' "
        "beside the template"]


def test_a_route_added_without_auth_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    text = (ROOT / "template.yaml").read_text()
    anchor = "        Tables:\n          Type: HttpApi\n"
    assert anchor in text
    path.write_text(text.replace(anchor, "        Open:\n          Type: HttpApi\n"
                                         "          Properties:\n"
                                         "            Path: /open\n            Method: GET\n"
                                         + anchor))
    assert validate(path) == ["auth: QueryFunction: GET /open has no authorizer (give its ApiId "
                              "a DefaultAuthorizer, or list it in Metadata.Tributary.PublicRoutes"
                              " if it authenticates itself)"]


def test_a_websocket_connect_without_authorizer_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    text = (ROOT / "template.yaml").read_text()
    anchor = "      AuthorizationType: CUSTOM\n      AuthorizerId: !Ref LiveApiAuthorizer\n"
    assert anchor in text
    path.write_text(text.replace(anchor, ""))
    assert validate(path) == ["auth: LiveApi: its $connect route has no authorizer (every "
                              "WebSocket connection must be authenticated; or list 'WEBSOCKET "
                              "tributary-live' in Metadata.Tributary.PublicRoutes)"]


def test_a_public_function_url_is_found(tmp_path: Path) -> None:
    path = _copy_project(tmp_path)
    text = (ROOT / "template.yaml").read_text()
    assert "AuthType: AWS_IAM" in text
    path.write_text(text.replace("AuthType: AWS_IAM", "AuthType: NONE"))
    assert any("QueryFunction: its function URL has AuthType NONE" in p for p in validate(path))
