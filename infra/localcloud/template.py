"""Read a SAM ``template.yaml`` into the typed model that deploy and the runtime share.

Only the wiring a local cloud needs is modelled: buckets, queues (with redrive), tables,
functions (code, handler, layers, timeout, memory, environment, concurrency) and their
triggers (SQS mappings, schedules, HTTP API routes, function URLs). Intrinsic functions are
resolved against parameters and the resources' physical names, as CloudFormation would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.cfn import ACCOUNT_ID, Resolver, TemplateError, load_yaml


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    name: str


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    visibility_timeout_s: int = 30
    dlq_name: str | None = None
    max_receive_count: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DynamoTable:
    logical_id: str
    name: str
    properties: dict[str, Any]  # the resolved CloudFormation properties


@dataclass(frozen=True)
class SqsTrigger:
    queue_name: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    report_batch_item_failures: bool = False
    max_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Schedule:
    rule_name: str
    expression: str
    enabled: bool = True
    input: str | None = None


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or ANY
    path: str
    authorizer: str | None = None  # the Lambda authorizer's function name; None: public
    identity: tuple[str, ...] = ()  # headers (lower case) the authorizer needs

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Image:
    """How an image function is built (its ``Metadata``, as ``sam build`` reads it)."""

    dockerfile: Path
    context: Path
    tag: str
    build_args: dict[str, str]


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    reserved_concurrency: int | None
    function_url: bool
    sqs: tuple[SqsTrigger, ...]
    schedules: tuple[Schedule, ...]
    routes: tuple[HttpRoute, ...]
    function_url_auth: str = "AWS_IAM"  # or NONE
    runtime: str | None = None  # a zip function's, e.g. python3.13
    image: Image | None = None  # an image function's build

    @property
    def package_type(self) -> str:
        return "Image" if self.image else "Zip"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.name}"


@dataclass(frozen=True)
class SocketRoute:
    """A route of a WebSocket API: ``$connect``, ``$disconnect``, ``$default`` or a key the
    route selection expression picks."""

    key: str
    function: str  # the integration's function name
    authorizer: str | None = None  # a REQUEST authorizer's function ($connect only)
    identity: tuple[str, ...] = ()  # query string parameters the authorizer needs
    two_way: bool = False  # the function's answer is sent back to the client


@dataclass(frozen=True)
class SocketApi:
    logical_id: str
    name: str
    stage: str
    selection_key: str  # the body field ``$request.body.<field>`` selects routes by
    routes: dict[str, SocketRoute]


@dataclass(frozen=True)
class Template:
    path: Path
    stack_name: str
    buckets: tuple[Bucket, ...]
    queues: tuple[Queue, ...]
    tables: tuple[DynamoTable, ...]
    functions: tuple[Function, ...]
    sockets: tuple[SocketApi, ...] = ()
    glue_databases: tuple[str, ...] = ()

    def function(self, name: str) -> Function:
        for fn in self.functions:
            if name in (fn.name, fn.logical_id):
                return fn
        raise KeyError(f"no function named {name!r} in {self.path}")


# -- building the model -----------------------------------------------------------------------
def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _queue_name_from_arn(arn: str, where: str) -> str:
    if not arn.startswith("arn:aws:sqs:"):
        raise TemplateError(f"{where}: Queue must be an SQS queue ARN, got {arn!r}")
    return arn.rsplit(":", 1)[1]


def _enabled(props: dict[str, Any]) -> bool:
    if "State" in props:
        return str(props["State"]).upper() == "ENABLED"
    return bool(props.get("Enabled", True))


def _zip_code(r: Resolver, root: Path, props: dict[str, Any], where: str
              ) -> tuple[Path, str, tuple[Path, ...]]:
    for required in ("CodeUri", "Handler"):
        if required not in props:
            raise TemplateError(f"{where}.Properties.{required} is required")
    layer_dirs = []
    for layer in props.get("Layers") or []:
        if not isinstance(layer, dict) or "LayerLogicalId" not in layer:
            raise TemplateError(f"{where}.Properties.Layers: only !Ref to a local layer works")
        lspec = r.resources[layer["LayerLogicalId"]].get("Properties") or {}
        layer_dirs.append((root / str(lspec.get("ContentUri", ""))).resolve())
    return (root / str(props["CodeUri"])).resolve(), str(props["Handler"]), tuple(layer_dirs)


def _image(root: Path, spec: dict[str, Any], where: str) -> Image:
    meta = spec.get("Metadata") or {}
    if "Dockerfile" not in meta or "CODE" not in (meta.get("DockerBuildArgs") or {}):
        raise TemplateError(f"{where}.Metadata: an image function needs Dockerfile, "
                            "DockerContext and DockerBuildArgs.CODE (its code folder)")
    context = (root / str(meta.get("DockerContext", "."))).resolve()
    return Image(context / str(meta["Dockerfile"]), context, str(meta.get("DockerTag", "latest")),
                 {k: str(v) for k, v in (meta.get("DockerBuildArgs") or {}).items()})


def _image_code(r: Resolver, root: Path, props: dict[str, Any], image: Image, where: str
                ) -> tuple[Path, str, tuple[Path, ...]]:
    """Where an image function's code is in the checkout: its ``CODE`` folder, with what the
    image carries beside it (the layers' content, as the Dockerfile copies it)."""
    command = (props.get("ImageConfig") or {}).get("Command") or []
    if not command:
        raise TemplateError(f"{where}.Properties.ImageConfig.Command: name the handler, "
                            "e.g. [app.handler]")
    layers = tuple((root / str((res.get("Properties") or {}).get("ContentUri", ""))).resolve()
                   for res in r.resources.values()
                   if res.get("Type") == "AWS::Serverless::LayerVersion")
    return (image.context / image.build_args["CODE"]).resolve(), str(command[0]), layers


def _function(
    r: Resolver, root: Path, logical_id: str, spec: dict[str, Any], globals_: dict[str, Any]
) -> Function:
    where = f"Resources.{logical_id}"
    props = r.resolve(_merge(globals_, spec.get("Properties") or {}), f"{where}.Properties")
    image = _image(root, spec, where) if props.get("PackageType") == "Image" else None
    code_dir, handler, layer_dirs = _image_code(r, root, props, image, where) if image \
        else _zip_code(r, root, props, where)
    sqs, schedules, routes = [], [], []
    for event_id, event in (props.get("Events") or {}).items():
        etype, eprops = event.get("Type"), event.get("Properties") or {}
        ewhere = f"{where}.Properties.Events.{event_id}"
        if etype == "SQS":
            scaling = eprops.get("ScalingConfig") or {}
            sqs.append(SqsTrigger(
                queue_name=_queue_name_from_arn(str(eprops.get("Queue")), ewhere),
                batch_size=int(eprops.get("BatchSize", 10)),
                batching_window_s=float(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (eprops.get("FunctionResponseTypes") or []),
                max_concurrency=scaling.get("MaximumConcurrency"),
                enabled=bool(eprops.get("Enabled", True)),
            ))
        elif etype == "Schedule":
            schedules.append(Schedule(
                rule_name=str(eprops.get("Name") or f"{r.stack}-{logical_id}-{event_id}"),
                expression=str(eprops["Schedule"]),
                enabled=_enabled(eprops),
                input=eprops.get("Input"),
            ))
        elif etype == "HttpApi":
            raw_event = ((spec.get("Properties") or {}).get("Events") or {})[event_id]
            routes.append(HttpRoute(
                str(eprops.get("Method", "ANY")).upper(), str(eprops.get("Path", "/$default")),
                *_route_auth(r, raw_event.get("Properties") or {}, ewhere)))
        else:
            raise TemplateError(f"{ewhere}.Type {etype!r} is not supported by the local runtime")
    env = (props.get("Environment") or {}).get("Variables") or {}
    return Function(
        logical_id=logical_id,
        name=r.physical_name(logical_id),
        code_dir=code_dir,
        handler=handler,
        layer_dirs=layer_dirs,
        runtime=None if image else str(props.get("Runtime") or "") or None,
        image=image,
        timeout_s=float(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
        environment={k: str(v) for k, v in env.items()},
        reserved_concurrency=(
            int(props["ReservedConcurrentExecutions"])
            if "ReservedConcurrentExecutions" in props else None
        ),
        function_url="FunctionUrlConfig" in props,
        function_url_auth=str((props.get("FunctionUrlConfig") or {}).get("AuthType", "AWS_IAM")),
        sqs=tuple(sqs),
        schedules=tuple(schedules),
        routes=tuple(routes),
    )


def _route_auth(r: Resolver, event: dict[str, Any], where: str
                ) -> tuple[str | None, tuple[str, ...]]:
    """A route's Lambda authorizer (function name) and identity headers, as API Gateway
    reads them: the event's ``Auth.Authorizer``, else its ``ApiId``'s ``DefaultAuthorizer``;
    ``NONE`` or no authorizer at all: public."""
    api = event.get("ApiId")
    api_id = api.get("Ref") if isinstance(api, dict) else None
    api_props = (r.resources.get(api_id) or {}).get("Properties") or {} if api_id else {}
    auth = api_props.get("Auth") or {}
    name = (event.get("Auth") or {}).get("Authorizer") or auth.get("DefaultAuthorizer")
    if not name or name == "NONE":
        return None, ()
    spec = (auth.get("Authorizers") or {}).get(name)
    target = (spec or {}).get("FunctionArn")
    if not isinstance(target, dict) or "Fn::GetAtt" not in target:
        raise TemplateError(f"{where}: authorizer {name!r} must be declared on {api_id} with "
                            "FunctionArn: !GetAtt <Function>.Arn")
    headers = ((spec or {}).get("Identity") or {}).get("Headers") or []
    return r.physical_name(target["Fn::GetAtt"][0]), tuple(str(h).lower() for h in headers)


def _queue(r: Resolver, logical_id: str, spec: dict[str, Any]) -> Queue:
    where = f"Resources.{logical_id}.Properties"
    props = r.resolve(spec.get("Properties") or {}, where)
    redrive = props.get("RedrivePolicy")
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    dlq_name = max_receive = None
    if redrive:
        dlq_name = _queue_name_from_arn(str(redrive.get("deadLetterTargetArn")), where)
        max_receive = int(redrive.get("maxReceiveCount", 0)) or None
    attributes = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in props.items()
        if k in ("DelaySeconds", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                 "MaximumMessageSize", "FifoQueue", "ContentBasedDeduplication")
    }
    return Queue(
        logical_id=logical_id,
        name=r.physical_name(logical_id),
        visibility_timeout_s=int(props.get("VisibilityTimeout", 30)),
        dlq_name=dlq_name,
        max_receive_count=max_receive,
        attributes=attributes,
    )


_FUNCTION_IN_URI = re.compile(r":function:([^/:]+)")


def _uri_function(uri: Any, where: str) -> str:
    found = _FUNCTION_IN_URI.search(str(uri))
    if not found:
        raise TemplateError(f"{where}: expected a Lambda invocation URI, got {uri!r}")
    return found.group(1)


def _of_type(r: Resolver, rtype: str) -> dict[str, dict[str, Any]]:
    return {lid: r.resolve(spec.get("Properties") or {}, f"Resources.{lid}.Properties")
            for lid, spec in r.resources.items() if spec.get("Type") == rtype}


def _socket_apis(r: Resolver) -> list[SocketApi]:
    """WebSocket APIs (``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET``) with
    their routes, Lambda integrations, REQUEST authorizers and stage."""
    apis = {lid: p for lid, p in _of_type(r, "AWS::ApiGatewayV2::Api").items()
            if p.get("ProtocolType") == "WEBSOCKET"}
    integrations = _of_type(r, "AWS::ApiGatewayV2::Integration")
    authorizers = _of_type(r, "AWS::ApiGatewayV2::Authorizer")
    answered = {str(p.get("RouteId")) for p in
                _of_type(r, "AWS::ApiGatewayV2::RouteResponse").values()}
    stages = {str(p.get("ApiId")): str(p.get("StageName", "$default"))
              for p in _of_type(r, "AWS::ApiGatewayV2::Stage").values()}
    out = []
    for api_id, props in apis.items():
        expr = str(props.get("RouteSelectionExpression", ""))
        if not expr.startswith("$request.body."):
            raise TemplateError(f"Resources.{api_id}: RouteSelectionExpression must be "
                                "$request.body.<field>")
        routes = {}
        for lid, p in _of_type(r, "AWS::ApiGatewayV2::Route").items():
            if p.get("ApiId") != api_id:
                continue
            where = f"Resources.{lid}.Properties"
            target = str(p.get("Target", "")).removeprefix("integrations/")
            if target not in integrations:
                raise TemplateError(f"{where}.Target must be integrations/<an Integration>")
            fn = _uri_function(integrations[target].get("IntegrationUri"), where)
            auth = authorizers.get(str(p.get("AuthorizerId"))) \
                if p.get("AuthorizationType") == "CUSTOM" else None
            identity = tuple(str(i).removeprefix("route.request.querystring.")
                             for i in (auth or {}).get("IdentitySource") or [])
            routes[str(p["RouteKey"])] = SocketRoute(
                str(p["RouteKey"]), fn,
                _uri_function(auth.get("AuthorizerUri"), where) if auth else None, identity,
                lid in answered)
        out.append(SocketApi(api_id, str(props.get("Name", api_id)),
                             stages.get(api_id, "$default"),
                             expr.removeprefix("$request.body."), routes))
    return out


def load_template(
    path: Path,
    *,
    region: str = "us-east-1",
    emulator_url: str = "http://127.0.0.1:4566",
    parameters: dict[str, str] | None = None,
) -> Template:
    path = path.resolve()
    raw = load_yaml(path.read_text())
    stack = str((raw.get("Metadata") or {}).get("StackName", "tributary"))
    r = Resolver(raw, stack, region, emulator_url, parameters or {})
    globals_ = (raw.get("Globals") or {}).get("Function") or {}
    buckets, queues, tables, functions, databases = [], [], [], [], []
    for logical_id, spec in r.resources.items():
        if not isinstance(spec, dict) or "Type" not in spec:
            raise TemplateError(f"Resources.{logical_id}: Type is required")
        rtype = spec["Type"]
        if rtype == "AWS::S3::Bucket":
            buckets.append(Bucket(logical_id, r.physical_name(logical_id)))
        elif rtype == "AWS::SQS::Queue":
            queues.append(_queue(r, logical_id, spec))
        elif rtype == "AWS::DynamoDB::Table":
            props = r.resolve(spec.get("Properties") or {}, f"Resources.{logical_id}")
            tables.append(DynamoTable(logical_id, r.physical_name(logical_id), props))
        elif rtype == "AWS::Serverless::Function":
            functions.append(_function(r, path.parent, logical_id, spec, globals_))
        elif rtype == "AWS::Glue::Database":
            props = r.resolve(spec.get("Properties") or {}, f"Resources.{logical_id}")
            databases.append(str(props["DatabaseInput"]["Name"]))
    return Template(
        path=path,
        stack_name=stack,
        buckets=tuple(buckets),
        queues=tuple(queues),
        tables=tuple(tables),
        functions=tuple(functions),
        sockets=tuple(_socket_apis(r)),
        glue_databases=tuple(databases),
    )
