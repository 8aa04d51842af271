"""The stack's AWS APIs through a user's own clients, with the versions the project pins and
with the newest release of each (``client``): every service the stack serves answers, and
Athena answers each operation it serves whichever protocol the client speaks (botocore's
newest Athena model speaks REST-JSON, the pinned one JSON 1.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, Cloud, start_cloud
from tests.integration.clients import ClientEnv, user_environment

pytestmark = pytest.mark.integration
OUT = "s3://tributary-query-results/clients/"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("clients"), ROOT / "template.yaml", 4930,
                        polling=frozenset())
    try:
        yield c
    finally:
        c.stack.down()
        mp.undo()


def test_every_athena_operation_answers_the_client(cloud: Cloud, client: ClientEnv) -> None:
    got = client.run(user_environment(cloud), "athena-operations", OUT)
    assert got["state"] == "SUCCEEDED"
    assert got["rows"] == [["x"], *[[str(i)] for i in range(1, 26)]]  # through 4 pages
    assert got["listed"] and len(got["batch"]) == 1 and got["stopped"] == 200
    assert got["workgroup"] == "primary" and got["workgroups"] == ["primary"]
    assert got["catalogs"] == ["AwsDataCatalog"] and got["catalog"] == "AwsDataCatalog"
    assert "tributary" in got["databases"] and got["database"] == "tributary"
    assert isinstance(got["tables"], list)
    errors = got["errors"]
    assert errors["unknown execution"]["code"] == "InvalidRequestException"
    assert "was not found" in errors["unknown execution"]["message"]
    assert errors["too many results"]["code"] == "InvalidRequestException"
    assert "MaxResults" in errors["too many results"]["message"]
    assert errors["unknown table"]["code"] == "MetadataException"
    assert errors["unserved operation"]["code"] == "UnknownOperationException"
    assert {e["status"] for e in errors.values()} == {400}


def test_each_service_answers_the_client(cloud: Cloud, client: ClientEnv) -> None:
    got = client.run(user_environment(cloud), "services", client.name)
    assert got["s3"] == {"body": "hello", "keys": ["a/b.txt"]}
    assert got["sqs"] == {"body": "hello", "queued": "0"}
    assert got["dynamodb"] == {"item": {"k": {"S": "a"}, "v": {"N": "1"}}, "queried": 1}
    assert got["events"] == {"state": "DISABLED", "fetch rules": True, "failed entries": 0}
    assert got["lambda"] == {"status": 200, "error": None, "functions": True,
                             "runtime": "python3.13"}
    assert got["glue"] == {"databases": ["tributary"], "tables": "list"}
    assert got["sts"] == {"account": "123456789012"}
    assert got["secretsmanager"] == {"value": '{"password": "p"}'}
    assert got["iam"] == {"roles": True} and got["apigatewayv2"] == {"apis": True}
