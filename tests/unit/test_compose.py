"""docker-compose.yml cannot run here (no Docker engine); keep its wiring consistent."""

from __future__ import annotations

import re
import shlex

import yaml

from localcloud.cfn import load_yaml
from tests.conftest import ROOT


def test_compose_runs_localstack_postgres_and_deploys_the_template() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"localstack", "postgres", "datasync", "hallow", "snapshots", "deploy"} <= set(services)
    assert "4566:4566" in services["localstack"]["ports"]
    for name in ("localstack", "postgres", "datasync", "hallow", "snapshots"):
        assert services["deploy"]["depends_on"][name]["condition"] == "service_healthy"
        assert services[name]["healthcheck"]["test"]
    command = " ".join(services["deploy"]["command"])
    assert "--template template.yaml" in command and "samlocal deploy" in command
    # Every parameter override names a parameter that the template declares.
    params = load_yaml((ROOT / "template.yaml").read_text())["Parameters"]
    overrides = shlex.split(command.split("--parameter-overrides", 1)[1].replace("$$", "$"))
    names = [re.search(r"([A-Za-z]+)=", o).group(1) for o in overrides]  # type: ignore[union-attr]
    assert names and all(n in params for n in names), names
    # An unset secret passes no override at all (`WebhookSigningSecret=` fails sam deploy).
    assert "${WEBHOOK_SECRET:+WebhookSigningSecret=$WEBHOOK_SECRET}" in overrides
    # The deployed fetch reads the simulator that compose runs, on the port it listens on.
    datasync = services["datasync"]["environment"]
    assert "DatasyncUrl=http://datasync:4590" in command
    assert datasync["TRIBUTARY_DATASYNC_URL"] == "http://datasync:4590"
    assert datasync["TRIBUTARY_DATASYNC_BIND_HOST"] == "0.0.0.0"
    # ...and every declared source's base URL points at the service compose runs for it.
    assert "HallowUrl=http://hallow:4591" in command
    assert "SnapshotsUrl=http://snapshots:4592" in command
    assert services["snapshots"]["environment"]["TRIBUTARY_SNAPSHOTS_BIND_HOST"] == "0.0.0.0"
    # Lambda containers must share the network that the database is on.
    network = services["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
    assert network == f"{compose['name']}_default"
