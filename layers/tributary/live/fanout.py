"""Subscribers of a live stream: WebSocket connections kept in DynamoDB, pushed to with
``apigatewaymanagementapi.post_to_connection`` from a thread of their own, so pushing never
holds up applying.

Item: ``connection_id``, ``stream``, ``start``, ``stop`` (the time range it watches) and
``seq``, the last change its catch-up held (see ``socket_api``). The publisher re-reads the
connections every half second (every two while it has none), sends one it has not seen
before every change after its ``seq`` from the change log, and from then on pushes changes
as they are applied, each connection's only once. So a subscriber gets every change after
its catch-up, in order of ``seq`` (or is told to reload when it is too far behind).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
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
REFRESH_S = 0.5
# With no subscriber, a new one is looked for less often: it misses nothing (its first push
# sends every change after its catch-up), it only starts up to this much later.
IDLE_REFRESH_S = 2.0
CatchUp = Callable[[int, int, int], list[Applied] | None]  # after, start, stop -> changes


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


class Subscribers(threading.Thread):
    def __init__(self, stream: str, catch_up: CatchUp) -> None:
        super().__init__(daemon=True, name="fanout")
        self.stream = stream
        self.catch_up = catch_up
        self.table = aws_resource("dynamodb").Table(get_settings().live_connections_table)
        self.api = management_client()
        self.inbox: queue.Queue[list[Applied] | None] = queue.Queue()
        self.known: dict[str, list[int]] = {}  # connection -> [start, stop, last seq sent]
        self.pushed = 0

    def publish(self, applied: list[Applied]) -> None:
        """Hand committed changes over (in commit order); they are pushed in the thread."""
        if applied:
            self.inbox.put(applied)

    def close(self) -> None:
        self.inbox.put(None)
        self.join(timeout=10)

    def run(self) -> None:
        refreshed = 0.0
        while True:
            try:
                batch = self.inbox.get(timeout=REFRESH_S)
            except queue.Empty:
                batch = []
            if batch is None:
                return
            try:
                t0 = time.monotonic()
                if t0 - refreshed >= (REFRESH_S if self.known else IDLE_REFRESH_S):
                    refreshed = t0
                    self._refresh()
                t1 = time.monotonic()
                for cid in list(self.known):
                    self._push(cid, batch)
                t2 = time.monotonic()
                if t2 - t0 > 0.1:
                    log.info("slow fan-out", extra={"refresh_s": round(t1 - t0, 3),
                                                    "push_s": round(t2 - t1, 3),
                                                    "queued": self.inbox.qsize()})
            except Exception:  # noqa: BLE001 - a subscriber's trouble must not stop the stream
                log.exception("pushing to subscribers failed", extra={"stream": self.stream})

    def _refresh(self) -> None:
        seen = {str(i["connection_id"]): i for i in self._connections()}
        for cid in set(self.known) - set(seen):
            del self.known[cid]
        for cid, (_, _, sent) in list(self.known.items()):
            if sent > int(seen[cid].get("seq", 0)):
                self._remember(cid, sent)
        for cid, item in seen.items():
            if cid in self.known:
                continue
            start, stop, after = int(item["start"]), int(item["stop"]), int(item.get("seq", 0))
            self.known[cid] = [start, stop, after]
            missed = self.catch_up(after, start, stop)  # committed since its catch-up
            if missed is None:
                self._post(cid, orjson.dumps({"type": "reload"}))
                self.known.pop(cid, None)
                continue
            self._push(cid, missed)

    def _connections(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": Attr("stream").eq(self.stream),
                                  "ConsistentRead": True}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _push(self, cid: str, applied: list[Applied]) -> None:
        """Changes in the connection's range it was not sent yet."""
        target = self.known.get(cid)
        if target is None:
            return
        start, stop, sent = target
        mine = [a.as_dict() for a in applied if a.seq > sent and start <= a.time_s < stop]
        for data in chunks(mine):
            if not self._post(cid, data):
                return
            self.pushed += 1
        if applied:
            target[2] = max(sent, applied[-1].seq)

    def _remember(self, cid: str, sent: int) -> None:
        """Where the connection is, so a successor holder goes on from there (the client
        skips anything sent twice)."""
        try:
            self.table.update_item(Key={"connection_id": cid}, UpdateExpression="SET seq = :s",
                                   ConditionExpression=Attr("connection_id").exists(),
                                   ExpressionAttributeValues={":s": sent})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _post(self, connection_id: str, data: bytes) -> bool:
        try:
            self.api.post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "GoneException":
                raise
        self.known.pop(connection_id, None)
        self.table.delete_item(Key={"connection_id": connection_id})
        return False
