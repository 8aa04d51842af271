"""The template model: what deploy and the runtime read from template.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.cfn import TemplateError
from localcloud.template import load_template
from tests.conftest import FIXTURES, ROOT


def test_real_template_model() -> None:
    t = load_template(ROOT / "template.yaml", parameters={"PgDsn": "postgresql://x@h/db"})
    assert {b.name for b in t.buckets} == {"tributary-raw", "tributary-lake",
                                           "tributary-query-results"}
    assert t.glue_databases == ("tributary",)
    queue = next(q for q in t.queues if q.name == "tributary-heartbeat")
    assert (queue.dlq_name, queue.max_receive_count, queue.visibility_timeout_s) == (
        "tributary-heartbeat-dlq", 3, 60)
    beat = t.function("tributary-heartbeat")
    # Globals merge with the function's own variables; Refs resolve to physical names.
    assert beat.environment["TRIBUTARY_RAW_BUCKET"] == "tributary-raw"
    assert beat.environment["TRIBUTARY_PG_DSN"] == "postgresql://x@h/db"
    assert beat.environment["TRIBUTARY_HEARTBEAT_QUEUE_URL"] == (
        "http://127.0.0.1:4566/123456789012/tributary-heartbeat")
    assert beat.layer_dirs == ((ROOT / "layers").resolve(),)
    assert beat.schedules[0].rule_name == "tributary-heartbeat"
    sink = t.function("HeartbeatSinkFunction")
    trigger = sink.sqs[0]
    assert (trigger.queue_name, trigger.batch_size, trigger.batching_window_s,
            trigger.report_batch_item_failures) == ("tributary-heartbeat", 10, 1.0, True)


def test_probe_template_triggers() -> None:
    t = load_template(FIXTURES / "probe" / "template.yaml")
    echo = t.function("probe-echo")
    assert echo.function_url
    assert [(r.method, r.path) for r in echo.routes] == [("POST", "/echo/{name}")]
    assert t.function("probe-slow").reserved_concurrency == 2
    assert t.function("probe-nap").timeout_s == 1.0
    assert t.function("probe-nap").memory_mb == 256  # from Globals


def _write(tmp_path: Path, resources: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n" + resources)
    return path


def test_unknown_reference_names_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f/
      Handler: app.handler
      Environment:
        Variables:
          BUCKET: !Ref Nope
""")
    with pytest.raises(TemplateError, match=r"Resources\.Fn\.Properties.*'Nope'"):
        load_template(path)


def test_unsupported_event_type_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f/
      Handler: app.handler
      Events:
        E:
          Type: Kinesis
          Properties: {Stream: arn:aws:kinesis:us-east-1:1:stream/s}
""")
    with pytest.raises(TemplateError, match="Events.E.Type 'Kinesis' is not supported"):
        load_template(path)


def test_missing_handler_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f/
""")
    with pytest.raises(TemplateError, match=r"Resources\.Fn\.Properties\.Handler is required"):
        load_template(path)


@pytest.mark.parametrize(("overrides", "vpc"), [
    ({}, None),  # the embedded stack: no VPC, no VpcConfig at all
    ({"SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"},
     {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}),
])
def test_the_vpc_is_a_condition_of_the_parameters(overrides: dict[str, str],
                                                  vpc: dict[str, list[str]] | None) -> None:
    from localcloud.cfn import Resolver, load_yaml

    raw = load_yaml((ROOT / "template.yaml").read_text())
    resolved = Resolver(raw, "tributary", "us-east-1", "http://127.0.0.1:4566",
                        overrides).resolve(raw["Globals"]["Function"], "Globals")
    assert resolved.get("VpcConfig") == vpc


def test_an_image_function_is_read_from_its_metadata() -> None:
    t = load_template(ROOT / "template.yaml")
    transform = t.function("tributary-transform")
    assert transform.package_type == "Image" and transform.runtime is None
    assert transform.image is not None and transform.image.build_args == {
        "CODE": "functions/transform"}
    assert transform.code_dir == (ROOT / "functions" / "transform").resolve()
    assert transform.handler == "app.handler"
    fetch = t.function("tributary-fetch")
    assert (fetch.package_type, fetch.runtime) == ("Zip", "python3.13")
