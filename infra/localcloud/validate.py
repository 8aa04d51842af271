"""Offline checks of what a user edits: the template (SAM translate, then cfn-lint on the
CloudFormation it produces), every source declaration, and the dbt project.

This is what keeps ``template.yaml`` deployable to LocalStack and AWS on machines that can
run neither, and a broken declaration or model from being found at the first ingestion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localcloud.cfn import load_yaml

# Managed policies by name, so translation needs no IAM call (the real loader lists them).
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/service-role/{name}"
    for name in ("AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole",
                 "AWSLambdaDynamoDBExecutionRole", "AWSLambdaVPCAccessExecutionRole")
}


def sam_translate(template: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation that SAM would deploy, computed with no AWS call."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    # The translator otherwise asks boto3 for the region of the machine it runs on.
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    session = boto3.session.Session(region_name=region, aws_access_key_id="offline",
                                    aws_secret_access_key="offline")
    params: dict[str, Any] = {}
    to_py27_compatible_template(template, params)
    translator = Translator(None, Parser(), boto_session=session)
    out = translator.translate(template, parameter_values=params,
                               get_managed_policy_map=lambda: dict(_MANAGED_POLICIES))
    result: dict[str, Any] = undo_mark_unicode_str_in_template(out)
    return result


def as_packaged(template: dict[str, Any], root: Path) -> tuple[dict[str, Any], list[str]]:
    """What ``sam package`` does to code paths: local folders become S3 URIs.

    Returns the packaged template and the local paths that do not exist.
    """
    missing: list[str] = []

    def package(props: dict[str, Any], key: str, where: str) -> None:
        uri = props.get(key)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            if not (root / uri).is_dir():
                missing.append(f"{where}.{key}: no folder {uri!r} beside the template")
            props[key] = f"s3://tributary-artifacts/{uri.strip('/')}.zip"

    out = json.loads(json.dumps(template))
    package((out.get("Globals") or {}).get("Function") or {}, "CodeUri", "Globals.Function")
    for logical_id, res in (out.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and \
                props.get("PackageType") == "Image":
            missing += _image_missing(res.get("Metadata") or {}, root, logical_id)
            props["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/" \
                                f"{logical_id.lower()}:latest"  # what sam package pushes
        elif res.get("Type") == "AWS::Serverless::Function":
            package(props, "CodeUri", f"Resources.{logical_id}")
        elif res.get("Type") == "AWS::Serverless::LayerVersion":
            package(props, "ContentUri", f"Resources.{logical_id}")
    return out, missing


def _image_missing(meta: dict[str, Any], root: Path, logical_id: str) -> list[str]:
    context = root / str(meta.get("DockerContext", "."))
    where = f"Resources.{logical_id}.Metadata"
    if "Dockerfile" not in meta:
        return [f"{where}: an image function needs a Dockerfile (and DockerContext)"]
    code = (meta.get("DockerBuildArgs") or {}).get("CODE")
    return [f"{where}.{k}: no {v!r} in {context}" for k, v in
            (("Dockerfile", meta["Dockerfile"]), ("DockerBuildArgs.CODE", code))
            if v is not None and not (context / str(v)).exists()]


def validate(path: Path, region: str = "us-east-1") -> list[str]:
    """Problems found in the template at ``path``; empty when it is deployable."""
    from cfnlint.api import ManualArgs, lint
    from samtranslator.model.exceptions import InvalidDocumentException

    packaged, missing = as_packaged(load_yaml(path.read_text()), path.parent)
    if missing:
        return missing
    try:
        cfn = sam_translate(packaged, region)
    except InvalidDocumentException as exc:
        return [f"SAM: {cause.message}" for cause in exc.causes]
    except Exception as exc:  # noqa: BLE001 - any translation failure is a finding
        return [f"SAM: {exc}"]
    matches = lint(json.dumps(cfn), config=ManualArgs(regions=[region]))
    return [f"cfn-lint {m.rule.id}: {m.message} ({'/'.join(map(str, m.path or []))})"
            for m in matches] + unauthenticated(path)


def check_sources(folder: Path) -> list[str]:
    """Every declaration's problems (each file on its own, then the folder as a whole:
    names matching files, no table written by two streams)."""
    from tributary.sources.loader import DeclarationError, load_all, parse_any

    problems = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            parse_any(path.read_text(), str(path))
        except DeclarationError as exc:
            problems.append(str(exc))
    if not problems:
        try:
            load_all(folder)
        except DeclarationError as exc:
            problems.append(str(exc))
    return problems


def check_declaration(path: Path) -> list[str]:
    """One declaration's problems, as ``check_sources`` finds them: the file on its own, then
    beside the other declarations of its folder (those that load): its name matching the
    file, no table another stream writes."""
    from tributary.sources.loader import DeclarationError, load_files, parse_any

    try:
        parse_any(path.read_text(), str(path))
    except DeclarationError as exc:
        return [str(exc)]
    others = []
    for other in sorted(path.parent.glob("*.yaml")):
        if other.resolve() == path.resolve():
            continue
        try:
            parse_any(other.read_text(), str(other))
        except (DeclarationError, OSError):
            continue  # its own problem: `tributary validate` names it
        others.append(other)
    try:
        load_files([*others, path])
    except DeclarationError as exc:
        return [str(exc)]
    return []


def check_schedules(path: Path, folder: Path) -> list[str]:
    """A declared pulled source that the template's fetch function never polls, or a fetch
    schedule for no declared pulled source; the findings give the Events entries to add."""
    from localcloud.cfn import TemplateError
    from localcloud.schedules import schedule_events, template_block
    from localcloud.template import load_template
    from tributary.control.sources import FETCH_FUNCTION
    from tributary.sources.loader import load_dir

    try:
        fetch = load_template(path).function(FETCH_FUNCTION)
    except (TemplateError, KeyError):
        return []  # a broken template, or none that fetches: the other findings say so
    declared = load_dir(folder)
    polled = {str(name): s.rule_name for s in fetch.schedules
              if (name := json.loads(s.input or "{}").get("source"))}  # none: every source
    problems = [f"schedules: {rule} in template.yaml polls {name!r}, which no declaration in "
                f"{folder} names as a pulled source: remove it from {fetch.logical_id}'s Events"
                for name, rule in sorted(polled.items()) if name not in declared]
    unpolled = {k: v for k, v in declared.items() if k not in polled}
    if unpolled:
        problems.append(f"schedules: {', '.join(sorted(unpolled))} declared in {folder} but "
                        f"not polled: add to {fetch.logical_id}'s Events in template.yaml "
                        "(then `tributary deploy`):\n"
                        + template_block(schedule_events(unpolled)))
    return problems


def unauthenticated(path: Path) -> list[str]:
    """HTTP routes without an authorizer and function URLs without IAM auth, unless the
    template names them public (``Metadata.Tributary.PublicRoutes`` / ``PublicFunctionUrls``):
    a route added without auth must be a decision, not an accident."""
    from localcloud.cfn import TemplateError
    from localcloud.template import load_template

    try:
        template = load_template(path)
    except TemplateError:
        return []  # a broken template: the findings above say why
    functions = template.functions
    meta = (load_yaml(path.read_text()).get("Metadata") or {}).get("Tributary") or {}
    public_routes = set(meta.get("PublicRoutes") or [])
    public_urls = set(meta.get("PublicFunctionUrls") or [])
    problems = []
    for fn in functions:
        for route in fn.routes:
            if route.authorizer is None and route.key not in public_routes:
                problems.append(f"auth: {fn.logical_id}: {route.key} has no authorizer (give "
                                "its ApiId a DefaultAuthorizer, or list it in "
                                "Metadata.Tributary.PublicRoutes if it authenticates itself)")
        if fn.function_url and fn.function_url_auth != "AWS_IAM" and \
                fn.logical_id not in public_urls:
            problems.append(f"auth: {fn.logical_id}: its function URL has AuthType "
                            f"{fn.function_url_auth} (use AWS_IAM, or list it in "
                            "Metadata.Tributary.PublicFunctionUrls)")
    for api in template.sockets:
        connect = api.routes.get("$connect")
        if (connect is None or connect.authorizer is None) and \
                f"WEBSOCKET {api.name}" not in public_routes:
            problems.append(f"auth: {api.logical_id}: its $connect route has no authorizer "
                            "(every WebSocket connection must be authenticated; or list "
                            f"'WEBSOCKET {api.name}' in Metadata.Tributary.PublicRoutes)")
    return problems
