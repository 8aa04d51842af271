"""A lake on a moto server of its own, for the lake's unit tests."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer

from tributary.load.lake import Lake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def served_lake(bucket: str, retention_s: int = 3600) -> Iterator[Lake]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    try:
        yield Lake(bucket, "us-east-1", url, retention_s)
    finally:
        server.stop()
