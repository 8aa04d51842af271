"""Both protocols botocore speaks to Athena reach the same operation with the same input: each
request is made by botocore's own serializer (REST-JSON from the newest model, JSON 1.1 from
the installed 1.44.5 one), each answer read by botocore's own parser."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.testclient import TestClient

from localcloud.athena import protocol
from localcloud.athena.errors import InvalidRequest
from localcloud.athena.server import app

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("StartQueryExecution", {"QueryString": "SELECT 1", "WorkGroup": "primary",
                             "ResultConfiguration": {"OutputLocation": "s3://b/x/"}}),
    ("GetQueryResults", {"QueryExecutionId": "q-1", "MaxResults": 7, "NextToken": "a/b=="}),
    ("ListQueryExecutions", {"WorkGroup": "primary", "MaxResults": 50}),
    ("StopQueryExecution", {"QueryExecutionId": "q-1"}),
    ("BatchGetQueryExecution", {"QueryExecutionIds": ["q-1", "q-2"]}),
    ("GetTableMetadata", {"CatalogName": "AwsDataCatalog", "DatabaseName": "tributary",
                          "TableName": "events"}),
    ("ListTableMetadata", {"CatalogName": "AwsDataCatalog", "DatabaseName": "tributary",
                           "Expression": "ev*", "AttributesToGet": ["TABLE_NAME", "LOCATION"]}),
    # A label holding '/' and ':' stays one label.
    ("ListTagsForResource", {"ResourceARN": "arn:aws:athena:us-east-1:1:workgroup/primary"}),
]
NEWEST = protocol.model()
INSTALLED = ServiceModel(Loader().load_service_model("athena", "service-2"), "athena")


def _echo(name: str) -> Any:
    def operation(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("QueryExecutionId") == "bad":
            raise InvalidRequest("QueryExecution bad was not found")
        return {"Operation": name, "Input": body}
    return operation


CLIENT = TestClient(app({name: _echo(name) for name, _ in CALLS}))


def _send(model: ServiceModel, name: str, params: dict[str, Any]) -> dict[str, Any]:
    op = model.operation_model(name)
    request = create_serializer(model.metadata["protocol"]).serialize_to_request(params, op)
    query = urlencode(request["query_string"], doseq=True)
    got = CLIENT.request(request["method"], request["url_path"] + (f"?{query}" if query else ""),
                         headers=request["headers"], content=request["body"])
    if got.status_code < 300:  # the echo's answer, which no output shape describes
        return {"status": got.status_code, **got.json()}
    error: dict[str, Any] = create_parser(model.metadata["protocol"]).parse(
        {"status_code": got.status_code, "headers": dict(got.headers), "body": got.content},
        None)
    return error


def test_the_model_read_is_the_rest_json_one() -> None:
    assert NEWEST.metadata["protocol"] == "rest-json"


@pytest.mark.parametrize("model", [NEWEST, INSTALLED], ids=["rest-json", "json-1.1"])
@pytest.mark.parametrize(("name", "params"), CALLS, ids=[c[0] for c in CALLS])
def test_each_protocol_reaches_the_operation_with_its_input(
        model: ServiceModel, name: str, params: dict[str, Any]) -> None:
    assert _send(model, name, params) == {"status": 200, "Operation": name, "Input": params}


@pytest.mark.parametrize("model", [NEWEST, INSTALLED], ids=["rest-json", "json-1.1"])
def test_errors_read_as_their_code_in_each_protocol(model: ServiceModel) -> None:
    failed = _send(model, "GetQueryResults", {"QueryExecutionId": "bad"})
    assert failed["Error"]["Code"] == "InvalidRequestException"
    assert failed["Error"]["Message"] == "QueryExecution bad was not found"
    assert failed["ResponseMetadata"]["HTTPStatusCode"] == 400
    unserved = _send(model, "ListNamedQueries", {})
    assert unserved["Error"]["Code"] == "UnknownOperationException"


def test_a_path_no_operation_has_is_a_404_naming_it() -> None:
    got = CLIENT.get("/no-such-thing")
    assert got.status_code == 404
    assert got.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "GET /no-such-thing" in got.json()["Message"]


def test_a_number_that_is_not_one_is_a_serialization_error() -> None:
    got = CLIENT.get("/query-executions/q-1/results?MaxResults=many")
    assert got.status_code == 400 and got.json()["__type"] == "SerializationException"
