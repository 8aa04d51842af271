"""How a client names an Athena operation and its input, in either protocol AWS's SDKs speak
to Athena, read from botocore's own model of the service (no route is written here):

- JSON 1.1 (botocore up to 1.44.5, the AWS CLI v1): ``POST /`` with ``X-Amz-Target:
  AmazonAthena.<Operation>``, the input is the JSON body;
- REST-JSON (newer botocore): the method and path name the operation (``GET
  /query-executions/{QueryExecutionId}/results``), its input is spread over the path, the
  query string, headers and a JSON body, as each member's ``location`` says.

The pinned botocore's model is JSON 1.1 only, so ``service-2.json.gz`` holds the model of
botocore ``VENDORED_FROM`` (its ``athena/2017-05-18/service-2.json`` without the
documentation); the installed model is used instead once botocore is newer than that.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import botocore
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from packaging.version import Version

VENDORED_FROM = "1.44.18"
TARGET_PREFIX = "AmazonAthena."
_VENDORED = Path(__file__).resolve().parent / "service-2.json.gz"


class BadCall(ValueError):
    """The request names no operation, or its input cannot be read (answered as ``code``)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


@dataclass(frozen=True)
class Call:
    operation: str
    input: dict[str, Any]
    rest: bool  # answer in REST-JSON's form (its content type, its status per operation)
    status: int = 200


@cache
def model() -> ServiceModel:
    if Version(botocore.__version__) > Version(VENDORED_FROM):
        return ServiceModel(Loader().load_service_model("athena", "service-2"), "athena")
    return ServiceModel(json.loads(gzip.decompress(_VENDORED.read_bytes())), "athena")


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    operation: OperationModel


@cache
def _routes() -> tuple[_Route, ...]:
    routes = []
    for name in model().operation_names:
        op = model().operation_model(name)
        uri: str = op.http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{(\w+)(\\\+)?\\\}", _label, re.escape(uri))
        routes.append(_Route(op.http["method"], re.compile(pattern + "$"), op))
    return tuple(routes)


def _label(found: re.Match[str]) -> str:
    """``{Label}`` is one path segment, ``{Label+}`` (greedy) the rest of the path."""
    return f"(?P<{found[1]}>{'.+' if found[2] else '[^/]+'})"


def json_call(target: str, body: bytes) -> Call:
    """A JSON 1.1 request: the operation from ``X-Amz-Target``, the body its input."""
    return Call(target.removeprefix(TARGET_PREFIX), _json_body(body), rest=False)


def rest_call(method: str, raw_path: str, query: list[tuple[str, str]],
              headers: Mapping[str, str], body: bytes) -> Call:
    """A REST-JSON request: the route its method and (still percent-encoded) path match,
    the input gathered from where the operation's input members say they are."""
    for route in _routes():
        found = route.path.match(raw_path)
        if found and route.method == method:
            break
    else:
        raise BadCall("UnknownOperationException",
                      f"{method} {raw_path} is not an operation of Athena", 404)
    op = route.operation
    values = _json_body(body)
    shape = op.input_shape
    members: Mapping[str, Shape] = shape.members if shape is not None else {}
    for member, member_shape in members.items():
        where = member_shape.serialization.get("location")
        wire = member_shape.serialization.get("name", member)
        if where == "uri":
            values[member] = unquote(found[wire])
        elif where == "querystring":
            given = [v for k, v in query if k == wire]
            if given:
                values[member] = _typed(member_shape, given)
        elif where == "header" and wire in headers:
            values[member] = _typed(member_shape, [headers[wire]])
    return Call(op.name, values, rest=True, status=int(op.http.get("responseCode", 200)))


def _typed(shape: Shape, given: list[str]) -> Any:
    """A query string or header value as the member's type (a list takes every value)."""
    if shape.type_name == "list":
        return [_scalar(shape.member, v) for v in given]
    return _scalar(shape, given[-1])


def _scalar(shape: Shape, text: str) -> Any:
    try:
        if shape.type_name in ("integer", "long"):
            return int(text)
        if shape.type_name in ("float", "double"):
            return float(text)
    except ValueError:
        raise BadCall("SerializationException",
                      f"{shape.name} must be a number, not {text!r}") from None
    if shape.type_name == "boolean":
        return text == "true"
    return text


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        values = json.loads(body or b"{}")
    except ValueError:
        raise BadCall("SerializationException", "the body is not JSON") from None
    if not isinstance(values, dict):
        raise BadCall("SerializationException", "the body is not a JSON object")
    return values
