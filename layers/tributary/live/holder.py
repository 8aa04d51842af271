"""Who consumes a live stream: one holder at a time, under a DynamoDB lease, handed over.

A Lambda function cannot hold a socket forever, so a holder keeps the stream for most of its
timeout, then starts its successor. The successor connects its own socket, says it is ready,
and the holder hands over at a batch boundary, leaving the fingerprints of the last messages
it applied (its ``tail``): the successor skips what it buffered up to there, so no change
falls between two holders and none is applied twice. Each holder has an ``epoch`` one above
its predecessor's, which fences its writes to PostgreSQL.

Item ``pk = live#<source>/<stream>``, ``sk = _holder``: owner, epoch, until, successor,
ready, tail. Items ``sk = copy#<start>`` record the first copy's finished windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from tributary.clients import aws_resource


class HolderLost(RuntimeError):
    """Another holder owns the stream now."""


@dataclass(frozen=True)
class Handed:
    epoch: int
    tail: list[str]  # fingerprints of the predecessor's last applied messages, oldest first


def _failed_condition(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


class Holder:
    def __init__(self, table_name: str, stream: str, me: str, lease_s: float,
                 dynamodb: Any = None) -> None:
        self.table = (dynamodb or aws_resource("dynamodb")).Table(table_name)
        self.pk = f"live#{stream}"
        self.me = me
        self.lease_s = lease_s
        self.epoch = 0

    def _key(self, sk: str = "_holder") -> dict[str, str]:
        return {"pk": self.pk, "sk": sk}

    def item(self) -> dict[str, Any]:
        found = self.table.get_item(Key=self._key(), ConsistentRead=True).get("Item") or {}
        return dict(found)

    def _until(self) -> Decimal:
        return Decimal(str(round(time.time() + self.lease_s, 3)))

    # -- taking the stream -----------------------------------------------------------------------
    def claim(self) -> bool:
        """Take the stream if nobody holds it or the holder's lease lapsed."""
        epoch = int(self.item().get("epoch", 0)) + 1
        try:
            self.table.update_item(
                Key=self._key(),
                UpdateExpression="SET #o = :me, epoch = :e, #u = :u REMOVE successor, ready, tail",
                ConditionExpression=Attr("until").not_exists() | Attr("until").lt(
                    Decimal(str(time.time()))) | Attr("owner").eq(self.me),
                ExpressionAttributeNames={"#o": "owner", "#u": "until"},
                ExpressionAttributeValues={":me": self.me, ":e": epoch, ":u": self._until()})
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        self.epoch = epoch
        return True

    def claim_when_lapsed(self, patience_s: float) -> bool:
        """Claim, or wait while the holder's lease is not renewed (a holder that died); False
        as soon as it is renewed (the holder is alive) or after ``patience_s``."""
        first = self.item().get("until")
        deadline = time.monotonic() + patience_s
        while time.monotonic() < deadline:
            if self.claim():
                return True
            if self.item().get("until") != first:
                return False
            time.sleep(0.5)
        return False

    # -- holding it ------------------------------------------------------------------------------
    def renew(self) -> dict[str, Any]:
        """Extend the lease; returns the item (is a successor ready?)."""
        try:
            out = self.table.update_item(
                Key=self._key(), UpdateExpression="SET #u = :u",
                ConditionExpression=Attr("owner").eq(self.me) & Attr("epoch").eq(self.epoch),
                ExpressionAttributeNames={"#u": "until"},
                ExpressionAttributeValues={":u": self._until()}, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if _failed_condition(exc):
                raise HolderLost(f"{self.pk}: lost at epoch {self.epoch}") from exc
            raise
        return dict(out["Attributes"])

    def hand_over(self, successor: str, tail: list[str]) -> None:
        self.table.update_item(
            Key=self._key(),
            UpdateExpression="SET #o = :s, epoch = :e, #u = :u, tail = :t REMOVE successor, ready",
            ConditionExpression=Attr("owner").eq(self.me) & Attr("successor").eq(successor),
            ExpressionAttributeNames={"#o": "owner", "#u": "until"},
            ExpressionAttributeValues={":s": successor, ":e": self.epoch + 1,
                                       ":u": self._until(), ":t": tail})

    def release(self) -> None:
        try:
            self.table.update_item(
                Key=self._key(), UpdateExpression="REMOVE #o, #u, successor, ready",
                ConditionExpression=Attr("owner").eq(self.me),
                ExpressionAttributeNames={"#o": "owner", "#u": "until"})
        except ClientError as exc:
            if not _failed_condition(exc):
                raise

    # -- succeeding another holder ---------------------------------------------------------------
    def register(self, predecessor: str) -> bool:
        """Become ``predecessor``'s successor (False: it no longer holds, or has one)."""
        try:
            self.table.update_item(
                Key=self._key(), UpdateExpression="SET successor = :me",
                ConditionExpression=Attr("owner").eq(predecessor) & (
                    Attr("successor").not_exists() | Attr("successor").eq(self.me)),
                ExpressionAttributeValues={":me": self.me})
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def ready(self) -> None:
        self.table.update_item(Key=self._key(), UpdateExpression="SET ready = :t",
                               ConditionExpression=Attr("successor").eq(self.me),
                               ExpressionAttributeValues={":t": True})

    def await_handover(self, timeout_s: float) -> Handed | None:
        """Wait until the holder hands over (its tail), or its lease lapses (None: claim)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            item = self.item()
            if item.get("owner") == self.me:
                self.epoch = int(item["epoch"])
                return Handed(self.epoch, [str(t) for t in item.get("tail") or []])
            if float(item.get("until", 0)) < time.time() or item.get("successor") != self.me:
                return None
            time.sleep(0.1)
        return None

    # -- the first copy's progress ---------------------------------------------------------------
    def copied(self) -> set[int]:
        out: set[int] = set()
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :c)",
            "ExpressionAttributeValues": {":p": self.pk, ":c": "copy#"}}
        while True:
            page = self.table.query(**kwargs)
            out |= {int(i["start"]) for i in page["Items"]}
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_copied(self, start: int, stop: int, rows: int) -> None:
        self.table.put_item(Item={**self._key(f"copy#{start}"), "start": start, "stop": stop,
                                  "rows": rows, "at": Decimal(str(round(time.time(), 3)))})

    def plan(self) -> list[tuple[int, int]] | None:
        item = self.table.get_item(Key=self._key("plan")).get("Item")
        return [(int(a), int(b)) for a, b in item["windows"]] if item else None

    def set_plan(self, windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Record the first copy's windows unless another holder did first; the plan kept."""
        try:
            self.table.put_item(Item={**self._key("plan"), "windows": [list(w) for w in windows]},
                                ConditionExpression=Attr("pk").not_exists())
            return windows
        except ClientError as exc:
            if not _failed_condition(exc):
                raise
        return self.plan() or windows
