"""CloudFormation as the local cloud reads it: the YAML with its short-form tags (``!Ref``,
``!GetAtt``, ``!Sub`` ...), and intrinsic functions resolved against parameters and the
resources' physical names, as CloudFormation would resolve them."""

from __future__ import annotations

import re
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"  # moto's default account
_SHORT_TAGS = ["Ref", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
               "FindInMap", "Base64", "GetAZs", "ImportValue", "Condition", "Cidr", "Transform"]


class TemplateError(ValueError):
    """The template cannot be understood; the message names the resource and field."""


# -- YAML with CloudFormation short-form tags -------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(tag: str) -> Any:
    key = "Ref" if tag == "Ref" else ("Condition" if tag == "Condition" else f"Fn::{tag}")

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return construct


def _getatt_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {"Fn::GetAtt": str(loader.construct_scalar(node)).split(".", 1)}
    return {"Fn::GetAtt": loader.construct_sequence(node, deep=True)}  # type: ignore[arg-type]


for _tag in _SHORT_TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _tag_constructor(_tag))
CfnLoader.add_constructor("!GetAtt", _getatt_constructor)


def load_yaml(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError("template has no Resources section")
    return data


# -- the model --------------------------------------------------------------------------------
# -- intrinsic functions ----------------------------------------------------------------------
_PHYSICAL_NAME_PROP = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Events::Rule": "Name",
}
_ARN_SERVICE = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
}


NO_VALUE = object()  # ``!Ref AWS::NoValue``: the property or item is left out


class Resolver:
    def __init__(
        self, raw: dict[str, Any], stack: str, region: str, emulator_url: str,
        overrides: dict[str, str],
    ) -> None:
        self.raw = raw
        self.resources: dict[str, Any] = raw["Resources"]
        self.region = region
        self.emulator_url = emulator_url
        self.params: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        for name, spec in (raw.get("Parameters") or {}).items():
            if name in overrides or "Default" in spec:
                value = overrides.get(name, spec.get("Default"))
                self.params[name] = ([v for v in str(value).split(",") if v]
                                     if spec.get("Type") == "CommaDelimitedList" else value)
        self.stack = stack

    def physical_name(self, logical_id: str) -> str:
        res = self._resource(logical_id)
        prop = _PHYSICAL_NAME_PROP.get(res["Type"])
        given = (res.get("Properties") or {}).get(prop) if prop else None
        if given is not None:
            return str(self.resolve(given, f"{logical_id}.{prop}"))
        return f"{self.stack}-{logical_id}".lower()

    def _resource(self, logical_id: str) -> dict[str, Any]:
        try:
            res: dict[str, Any] = self.resources[logical_id]
            return res
        except KeyError:
            raise TemplateError(f"reference to unknown resource {logical_id!r}") from None

    def ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            if self.resources[name]["Type"] == "AWS::SQS::Queue":
                return self.getatt(name, "QueueUrl", where)
            if self.resources[name]["Type"] == "AWS::Serverless::LayerVersion":
                return {"LayerLogicalId": name}
            if self.resources[name]["Type"].startswith("AWS::ApiGatewayV2::"):
                return name  # an API Gateway id; locally the logical id is the id
            return self.physical_name(name)
        raise TemplateError(f"{where}: Ref to unknown parameter or resource {name!r}")

    def getatt(self, logical_id: str, attr: str, where: str) -> str:
        res = self._resource(logical_id)
        name = self.physical_name(logical_id)
        rtype = res["Type"]
        if attr == "Arn" and rtype in _ARN_SERVICE:
            return _ARN_SERVICE[rtype].format(region=self.region, account=ACCOUNT_ID, name=name)
        if rtype == "AWS::SQS::Queue" and attr == "QueueName":
            return name
        if rtype == "AWS::SQS::Queue" and attr == "QueueUrl":
            return f"{self.emulator_url}/{ACCOUNT_ID}/{name}"
        raise TemplateError(f"{where}: unsupported GetAtt {logical_id}.{attr}")

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v, where) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg, where)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.getatt(logical, attr, where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.resolve(items, where))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items, where)[int(index)]
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name, where) else no, where)
            if key.startswith("Fn::"):
                raise TemplateError(f"{where}: intrinsic {key} is not supported locally")
        out = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def condition(self, name: str, where: str) -> bool:
        """A named condition of the template's ``Conditions``, evaluated."""
        conditions = self.raw.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"{where}: no condition {name!r} in Conditions")
        return self._truth(conditions[name], f"Conditions.{name}")

    def _truth(self, expr: Any, where: str) -> bool:
        (key, arg), = expr.items()
        if key == "Condition":
            return self.condition(str(arg), where)
        if key == "Fn::Equals":
            a, b = (self.resolve(x, where) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not self._truth(arg[0], where)
        if key in ("Fn::And", "Fn::Or"):
            found = [self._truth(x, where) for x in arg]
            return all(found) if key == "Fn::And" else any(found)
        raise TemplateError(f"{where}: {key} is not a condition")

    def _sub(self, arg: Any, where: str) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v, where) for k, v in extra.items()}

        def repl(m: re.Match[str]) -> str:
            token = m.group(1)
            if token in local:
                return str(local[token])
            if "." in token and token.split(".", 1)[0] in self.resources:
                logical, attr = token.split(".", 1)
                return self.getatt(logical, attr, where)
            return str(self.ref(token, where))

        return re.sub(r"\$\{([^!}][^}]*)\}", repl, text)
