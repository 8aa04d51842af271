"""Subscribers of a live stream: WebSocket connections kept in DynamoDB, pushed to with
``apigatewaymanagementapi.post_to_connection``.

Item: ``connection_id``, ``stream``, ``start``, ``stop`` (the time range it watches), ``at``.
A publisher reads the connections after each commit, so a subscriber registered before that
read gets the changes pushed, and one registered after it finds them in its catch-up (see
``socket_api``): every change reaches it at least once, in order of ``seq``.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from tributary.clients import aws_client, aws_resource
from tributary.live.copy import Applied
from tributary.log import get_logger
from tributary.settings import get_settings

log = get_logger("live.fanout")
MAX_MESSAGE_BYTES = 120_000  # API Gateway takes 128 KB per message


def management_client() -> Any:
    """The WebSocket API's management endpoint: ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``
    on the embedded cloud (boto3 reads it), the stage URL the template passes on AWS."""
    if os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"):
        return aws_client("apigatewaymanagementapi")
    return aws_client("apigatewaymanagementapi", get_settings().live_management_url or None)


def chunks(changes: list[dict[str, Any]]) -> list[bytes]:
    """``{"type": "changes", "changes": [...]}`` messages under the size limit."""
    out: list[bytes] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for c in changes:
        n = len(orjson.dumps(c)) + 1
        if batch and size + n > MAX_MESSAGE_BYTES:
            out.append(orjson.dumps({"type": "changes", "changes": batch}))
            batch, size = [], 0
        batch.append(c)
        size += n
    if batch:
        out.append(orjson.dumps({"type": "changes", "changes": batch}))
    return out


class Subscribers:
    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.table = aws_resource("dynamodb").Table(get_settings().live_connections_table)
        self.api = management_client()
        self.pushed = 0

    def connections(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": Attr("stream").eq(self.stream),
                                  "ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def publish(self, applied: list[Applied]) -> int:
        """Push each subscriber the changes in its range; returns messages sent."""
        if not applied:
            return 0
        sent = 0
        for conn in self.connections():
            start, stop = int(conn["start"]), int(conn["stop"])
            mine = [a.as_dict() for a in applied if start <= a.time_s < stop]
            for data in chunks(mine):
                if not self.post(str(conn["connection_id"]), data):
                    break
                sent += 1
        self.pushed += sent
        return sent

    def post(self, connection_id: str, data: bytes) -> bool:
        try:
            self.api.post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "GoneException":
                raise
        self.table.delete_item(Key={"connection_id": connection_id})
        return False
