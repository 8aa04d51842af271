"""How the local cloud maps settings onto the template: one place, used by deploy and runtime."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from localcloud.credentials import api_token
from localcloud.template import Function, Template, load_template
from simulators.settings import (
    BazaarSettings,
    DatasyncServerSettings,
    HallowSettings,
    SnapshotsSettings,
    TimelineSettings,
)
from tributary.settings import Settings


def stack_parameters(settings: Settings) -> dict[str, str]:
    """Template parameter values from settings; ``TRIBUTARY_PARAM_<Name>`` sets any other."""
    datasync = DatasyncServerSettings()  # read now, not cached: one process may run several stacks
    params = {"PgDsn": settings.pg_dsn.get_secret_value(), "DatasyncUrl": datasync.url,
              "HallowUrl": HallowSettings().url, "SnapshotsUrl": SnapshotsSettings().url,
              "TimelineUrl": TimelineSettings().url, "BazaarUrl": BazaarSettings().url,
              "DatasyncApiKey": datasync.api_key.get_secret_value(),
              "WebhookSigningSecret": settings.webhook_signing_secret.get_secret_value()
              if settings.webhook_signing_secret else "", "ApiToken": api_token(settings)}
    prefix = "TRIBUTARY_PARAM_"
    params.update({k[len(prefix):]: v for k, v in os.environ.items() if k.startswith(prefix)})
    return params


def load_stack(settings: Settings) -> Template:
    return load_template(settings.template, region=settings.region,
                         emulator_url=settings.emulator_url,
                         parameters=stack_parameters(settings))


def function_environment(fn: Function, settings: Settings) -> dict[str, str]:
    """What a handler's process sees: Lambda's variables, local endpoints, the template's."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV") or k.startswith("TRIBUTARY_")}
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.emulator_access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.emulator_secret_access_key.get_secret_value(),
        "AWS_ENDPOINT_URL": settings.emulator_url,
        # The runtime is the WebSocket gateway, so it serves the management API too.
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"{settings.runtime_url}/_connections",
        "TZ": "UTC",
    })
    env.update(fn.environment)
    return env


# The host's, not the function's: a container has its own, a built zip function gets Lambda's.
HOST_ONLY = ("PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH", "LANG", "LC_ALL")


def lambda_environment(fn: Function, settings: Settings) -> dict[str, str]:
    """``function_environment`` without the host's variables: what a built artifact gets."""
    return {k: v for k, v in function_environment(fn, settings).items() if k not in HOST_ONLY}


def emulator_client(service: str, settings: Settings) -> Any:
    """A boto3 client for the local emulator (its fixed test credentials, never real ones)."""
    return _emulator_client(service, settings.emulator_url, settings.region)


def emulator_resource(service: str, settings: Settings) -> Any:
    return boto3.resource(
        service,
        endpoint_url=settings.emulator_url, region_name=settings.region,
        aws_access_key_id="test", aws_secret_access_key="test")


@cache
def _emulator_client(service: str, url: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url, region_name=region, aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
    )
