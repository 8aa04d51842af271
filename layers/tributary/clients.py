"""The AWS and PostgreSQL clients that handlers share.

Handlers use plain boto3: on the embedded cloud the runtime sets ``AWS_ENDPOINT_URL`` for
them (as LocalStack does), so the same code runs against the emulator and AWS.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
import psycopg
from botocore.config import Config

from tributary.settings import get_settings

_BOTO_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


@cache
def aws_client(service: str, endpoint_url: str | None = None) -> Any:
    """A cached boto3 client; ``endpoint_url=None`` defers to ``AWS_ENDPOINT_URL``/AWS."""
    return boto3.client(
        service,
        region_name=get_settings().region,
        endpoint_url=endpoint_url,
        config=_BOTO_CONFIG,
    )


@cache
def aws_resource(service: str) -> Any:
    return boto3.resource(service, region_name=get_settings().region, config=_BOTO_CONFIG)


def pg_connect(autocommit: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(get_settings().pg_dsn.get_secret_value(), autocommit=autocommit)


_shared: psycopg.Connection[Any] | None = None


def pg_shared() -> psycopg.Connection[Any]:
    """This process's connection, kept across invocations (as a warm Lambda keeps it) and
    replaced if it broke."""
    global _shared
    if _shared is None or _shared.closed or _shared.broken:
        _shared = pg_connect()
    return _shared
