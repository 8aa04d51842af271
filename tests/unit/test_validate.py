"""Offline template checks: the real template passes; broken ones fail with a clear finding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localcloud.schedules import schedule_events, template_block
from localcloud.validate import check_schedules, validate
from tests.conftest import FIXTURES, ROOT
from tributary.sources.loader import parse


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


# -- every pulled source polled, every fetch schedule a source --------------------------------
NEW_SOURCE = """
name: gadgets
base_url: http://127.0.0.1:1
streams:
  - {name: gadgets, endpoint: /g, records_path: items, primary_key: sku,
     pagination: {style: single}, table: gadgets, columns: {sku: {}}}
"""


def _sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(ROOT / "sources", folder)
    return folder


def test_the_project_s_schedules_match_its_declarations() -> None:
    assert check_schedules(ROOT / "template.yaml", ROOT / "sources") == []


def test_a_declared_source_without_a_schedule_is_found_with_the_block_to_add(
        tmp_path: Path) -> None:
    folder = _sources(tmp_path)
    (folder / "gadgets.yaml").write_text(NEW_SOURCE)
    [problem] = check_schedules(ROOT / "template.yaml", folder)
    assert problem.startswith("schedules: gadgets declared in") and "not polled" in problem
    block = problem.split("\n", 1)[1]
    assert block == template_block(schedule_events({"gadgets": parse(NEW_SOURCE, "g.yaml")}))
    assert "Name: tributary-fetch-gadgets" in block and "PollGadgets:" in block


def test_a_schedule_for_no_declared_source_is_found(tmp_path: Path) -> None:
    folder = _sources(tmp_path)
    (folder / "hallow.yaml").unlink()
    [problem] = check_schedules(ROOT / "template.yaml", folder)
    assert problem == (f"schedules: tributary-fetch-hallow in template.yaml polls 'hallow', "
                       f"which no declaration in {folder} names as a pulled source: remove it "
                       "from FetchFunction's Events")
