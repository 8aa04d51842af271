"""One holder at a time across processes: a lease on an item of the checkpoints table.

For work that two function invocations must never do at once, where a thread lock cannot
reach: spending a rotating refresh token (a second spend of the same token is refused, and
some servers revoke the whole token family for it). The lease lapses by itself, so a holder
that dies blocks the others for ``hold_s`` at most. The item has no ``kind``: the checkpoint
scans pass it by, as they pass the partitions' leases.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError


class MutexTimeout(RuntimeError):
    """Another holder kept the lease for longer than the caller would wait."""


def _refused(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class Mutex:
    def __init__(self, table: Any, name: str, hold_s: float = 30.0,
                 poll_s: float = 0.2) -> None:
        self.table, self.key = table, {"pk": f"_mutex#{name}", "sk": "_mutex"}
        self.hold_s, self.poll_s = hold_s, poll_s
        self.me = uuid.uuid4().hex

    def _take(self) -> bool:
        now = time.time()
        until = Decimal(str(round(now + self.hold_s, 3)))
        try:
            self.table.put_item(
                Item=self.key | {"owner": self.me, "until": until},
                ConditionExpression=Attr("until").not_exists() | Attr("until").lt(
                    Decimal(str(round(now, 3)))))
        except ClientError as exc:
            if _refused(exc):
                return False
            raise
        return True

    def _give_up(self) -> None:
        try:
            self.table.delete_item(Key=self.key, ConditionExpression=Attr("owner").eq(self.me))
        except ClientError as exc:
            if not _refused(exc):  # it lapsed and another took it: theirs now
                raise

    @contextmanager
    def held(self, wait_s: float) -> Iterator[None]:
        deadline = time.monotonic() + wait_s
        while not self._take():
            if time.monotonic() >= deadline:
                raise MutexTimeout(f"{self.key['pk']}: still held by another process after "
                                   f"{wait_s:.0f} s")
            time.sleep(self.poll_s)
        try:
            yield
        finally:
            self._give_up()
