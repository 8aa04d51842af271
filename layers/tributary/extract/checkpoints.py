"""Partition checkpoints and leases in DynamoDB.

Items: ``pk = "<source>#<stream>"``, ``sk = <partition>``. A partition holds where its next
page starts (cursor and the last timestamp seen), what has been landed (pages, records) and
who is fetching it (a lease that expires, so a crashed fetcher's work is taken over).
Every write is conditional on the caller holding the lease.

A partition whose fetch failed keeps the error beside its position: ``failed`` once retrying
cannot help (or the retries are spent), else ``pending`` until ``retry_at``. The stream's
other partitions, and its sibling streams, go on; the next page that lands clears it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from tributary.clients import aws_resource


@dataclass
class Partition:
    source: str
    stream: str
    name: str
    kind: str  # "feed" (a time range) or the stream's pagination style
    since: int = 0
    until: int = 0
    cursor: str | None = None
    last_ts: int | None = None
    seq: int = 0
    records: int = 0
    status: str = "pending"  # pending | done | failed
    high_water: str | None = None  # cursor listings: newest id seen by the last full pass
    pass_top: str | None = None  # newest id of the pass under way; high water once it ends
    etag: str | None = None  # snapshots: the version last landed
    finished_at: float = 0.0  # when the last pass ended (schedules: is the next one due?)
    extra: dict[str, Any] = field(default_factory=dict)  # a child's parent: params, include
    total: int | None = None  # a child's: the upstream's count for its parent
    held: bool = False  # this process holds its lease (until released, or done)
    error: str | None = None  # why the last attempt failed (cleared by the next page landed)
    error_since: float = 0.0  # epoch s: the first failure of this run of failures
    failed_at: float = 0.0  # epoch s: the last one
    attempts: int = 0  # failed attempts in a row
    retry_at: float = 0.0  # epoch s: not fetched again before this (a backoff, or next pass)

    @property
    def pk(self) -> str:
        return f"{self.source}#{self.stream}"


def _plain(value: Any) -> Any:
    """An item's value as Python reads JSON: DynamoDB's numbers are Decimals, nested too (a
    child partition's parent fields)."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Failure:
    """Why a stream is not being fetched as it should: its most telling error."""

    error: str
    since: float  # epoch s: the first failure in a row
    at: float  # epoch s: the last
    attempts: int
    final: bool  # nothing more will be tried until a forced fetch or the next pass is due


ERROR_FIELDS = ("error", "error_since", "failed_at", "attempts", "retry_at")


@dataclass
class StreamState:
    """One stream's checkpoint items, read together: its meta item and its partitions."""

    meta: dict[str, Any] = field(default_factory=dict)
    partitions: list[Partition] = field(default_factory=list)

    @property
    def failure(self) -> Failure | None:
        """A partition's error, a failed one's first; or the last planning error (the
        meta item's, given up on: the HTTP client's own retries were spent), unless a pass has
        ended since."""
        failing = sorted((p for p in self.partitions if p.error),
                         key=lambda p: (p.status != "failed", p.error_since))
        if failing:
            p = failing[0]
            return Failure(str(p.error), p.error_since, p.failed_at, p.attempts,
                           p.status == "failed")
        error_at = float(self.meta.get("error_at", 0))
        if self.meta.get("error") and error_at > max(
                (p.finished_at for p in self.partitions), default=0.0):
            return Failure(str(self.meta["error"]), error_at, error_at, 1, True)
        return None

    @property
    def total(self) -> int | None:
        """The upstream's record count: the stream's, or for a child stream the sum of what
        each parent's partition was told; None when the API never says."""
        if self.meta.get("total") is not None:
            return int(self.meta["total"])
        told = [p.total for p in self.partitions if p.total is not None]
        return sum(told) if told else None


def _projection(names: tuple[str, ...]) -> dict[str, Any]:
    """Just these attributes (by placeholder: ``status`` and others are reserved words)."""
    return {"ProjectionExpression": ", ".join(f"#{i}" for i in range(len(names))),
            "ExpressionAttributeNames": {f"#{i}": name for i, name in enumerate(names)}}


def _items(call: Callable[..., dict[str, Any]], kwargs: dict[str, Any]
           ) -> Iterator[dict[str, Any]]:
    """Every item a query or a scan answers, page after page."""
    while True:
        page = call(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs = kwargs | {"ExclusiveStartKey": page["LastEvaluatedKey"]}


class LeaseLost(RuntimeError):
    """Another fetcher holds this partition now (ours expired)."""


class Checkpoints:
    def __init__(self, table_name: str, lease_s: float, dynamodb: Any = None) -> None:
        self.table = (dynamodb or aws_resource("dynamodb")).Table(table_name)
        self.lease_s = lease_s

    def add(self, p: Partition) -> bool:
        """Record a planned partition unless it exists; True when it was new."""
        item = {"pk": p.pk, "sk": p.name, "kind": p.kind, "since": p.since, "until": p.until,
                "seq": 0, "records": 0, "status": "pending"} | (
                    {"extra": p.extra} if p.extra else {})
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(sk)")
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def partitions(self, source: str, stream: str, only: tuple[str, ...] = ()
                   ) -> list[Partition]:
        """Every partition; ``only``: just those attributes (a progress poll reads a few, and
        the emulator's cost is in serializing every attribute of every item)."""
        return self.stream(source, stream, only).partitions

    def stream(self, source: str, stream: str, only: tuple[str, ...] = ()) -> StreamState:
        """The stream's meta item and partitions, in one query."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"{source}#{stream}")}
        if only:
            kwargs |= _projection(("sk", "kind", *only))
        state = StreamState()
        for item in _items(self.table.query, kwargs):
            if item["sk"] == "_meta":
                state.meta = {k: _plain(v) for k, v in item.items()}
            else:
                state.partitions.append(self._partition(source, stream, item))
        return state

    def streams(self, only: tuple[str, ...]) -> dict[tuple[str, str], StreamState]:
        """Every stream's meta and partitions (``only`` those attributes) in one scan: a
        progress poll reads them all, and one pass over the table costs the emulator far
        less than a query per stream, each of which walks the whole table."""
        out: dict[tuple[str, str], StreamState] = {}
        for item in _items(self.table.scan, _projection(("pk", "sk", "kind", "total", *only))):
            if item["sk"] != "_meta" and "kind" not in item:
                continue  # a lease, or a live stream's holder: not a stream's checkpoint
            source, _, stream = str(item["pk"]).partition("#")
            state = out.setdefault((source, stream), StreamState())
            if item["sk"] == "_meta":
                state.meta = {k: _plain(v) for k, v in item.items()}
            else:
                state.partitions.append(self._partition(source, stream, item))
        return out

    @staticmethod
    def _partition(source: str, stream: str, item: dict[str, Any]) -> Partition:
        i = {k: _plain(v) for k, v in item.items()}
        return Partition(source, stream, i["sk"], i["kind"], i.get("since", 0),
                         i.get("until", 0), i.get("cursor"), i.get("last_ts"), i.get("seq", 0),
                         i.get("records", 0), i.get("status", "pending"), i.get("high_water"),
                         i.get("pass_top"), i.get("etag"), float(i.get("finished_at", 0)),
                         i.get("extra") or {}, i.get("total"), error=i.get("error"),
                         error_since=float(i.get("error_since", 0)),
                         failed_at=float(i.get("failed_at", 0)),
                         attempts=int(i.get("attempts", 0)),
                         retry_at=float(i.get("retry_at", 0)))

    def meta(self, source: str, stream: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"pk": f"{source}#{stream}", "sk": "_meta"}).get("Item")
        return {k: _plain(v) for k, v in (item or {}).items()}

    def set_meta(self, source: str, stream: str, **values: Any) -> None:
        self.table.update_item(
            Key={"pk": f"{source}#{stream}", "sk": "_meta"},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ExpressionAttributeNames={f"#{k}": k for k in values},
            ExpressionAttributeValues={f":{k}": v for k, v in values.items()})

    def unset_meta(self, source: str, stream: str, *names: str) -> None:
        self.table.update_item(Key={"pk": f"{source}#{stream}", "sk": "_meta"},
                               UpdateExpression="REMOVE " + ", ".join(f"#{n}" for n in names),
                               ExpressionAttributeNames={f"#{n}": n for n in names})

    def lease(self, p: Partition, owner: str) -> bool:
        now = time.time()
        try:
            self.table.update_item(
                Key={"pk": p.pk, "sk": p.name},
                UpdateExpression="SET lease_owner = :o, lease_until = :u",
                ConditionExpression=(Attr("status").ne("done") & (
                    Attr("lease_until").not_exists() | Attr("lease_until").lt(Decimal(str(now)))
                    | Attr("lease_owner").eq(owner))),
                ExpressionAttributeValues={":o": owner, ":u": Decimal(str(now + self.lease_s))})
            p.held = True
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def advance(self, p: Partition, owner: str, *, landed: int, done: bool) -> None:
        """Record a landed page (and renew the lease); fails if the lease was lost. The last
        page's checkpoint gives the lease up too: no one can lease a done partition, and a
        one-page partition (a child per parent record) costs two writes, not three."""
        if done:
            p.finished_at = time.time()
        fields = {"seq": p.seq, "records": p.records, "status": "done" if done else "pending",
                  "cursor": p.cursor, "last_ts": p.last_ts, "high_water": p.high_water,
                  "pass_top": p.pass_top, "etag": p.etag,
                  "finished_at": Decimal(str(round(p.finished_at, 3))), "total": p.total}
        if not done:
            fields["lease_until"] = Decimal(str(time.time() + self.lease_s))
        values: dict[str, Any] = {f":{k}": v for k, v in fields.items()} | {":o": owner}
        # A page landed: an earlier failure is over (only then is there anything to remove).
        remove = (["lease_owner", "lease_until"] if done else []) + (
            list(ERROR_FIELDS) if p.error else [])
        # By placeholder: ``error`` is one of DynamoDB's reserved words.
        update = "SET " + ", ".join(f"#{k} = :{k}" for k in fields) + (
            " REMOVE " + ", ".join(f"#{k}" for k in remove) if remove else "")
        try:
            self.table.update_item(
                Key={"pk": p.pk, "sk": p.name}, UpdateExpression=update,
                ConditionExpression="lease_owner = :o",
                ExpressionAttributeNames={f"#{k}": k for k in [*fields, *remove]},
                ExpressionAttributeValues=values)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LeaseLost(f"{p.pk}/{p.name}: lease lost after {landed} pages") from exc
            raise
        p.held, p.status = not done, "done" if done else "pending"
        p.error, p.error_since, p.failed_at, p.attempts, p.retry_at = None, 0.0, 0.0, 0, 0.0

    def checked(self, p: Partition, at: float) -> None:
        """A finished partition found unchanged at ``at``: its pass counts as ended then.
        No lease: a done partition has none, and one reopened since is left alone."""
        with contextlib.suppress(ClientError):  # reopened meanwhile: its pass will say
            self.table.update_item(
                Key={"pk": p.pk, "sk": p.name}, UpdateExpression="SET finished_at = :t",
                ConditionExpression=Attr("status").eq("done"),
                ExpressionAttributeValues={":t": Decimal(str(round(at, 3)))})
            p.finished_at = at

    def fail(self, p: Partition, owner: str, error: str, final: bool, retry_at: float) -> None:
        """Record a failed attempt and give the lease up: ``final``, the partition is
        ``failed``; else it stays ``pending``. Either way no one fetches it before
        ``retry_at``. Fails (``LeaseLost``) if another fetcher holds it now."""
        p.attempts += 1
        p.failed_at = time.time()
        p.error, p.error_since = error[:2000], p.error_since or p.failed_at
        p.status, p.retry_at = ("failed" if final else "pending"), retry_at
        fields = {"status": p.status, "error": p.error, "attempts": p.attempts} | {
            k: Decimal(str(round(v, 3))) for k, v in (
                ("error_since", p.error_since), ("failed_at", p.failed_at),
                ("retry_at", retry_at))}
        try:
            self.table.update_item(
                Key={"pk": p.pk, "sk": p.name},
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields) +
                " REMOVE lease_owner, lease_until", ConditionExpression="lease_owner = :o",
                ExpressionAttributeNames={f"#{k}": k for k in fields},
                ExpressionAttributeValues={f":{k}": v for k, v in fields.items()} | {":o": owner})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LeaseLost(f"{p.pk}/{p.name}: lease lost before its failure was "
                                "recorded") from exc
            raise
        p.held = False

    def release(self, p: Partition, owner: str) -> None:
        if not p.held:
            return  # given up already (by the last checkpoint), or never taken
        p.held = False
        with contextlib.suppress(ClientError):  # someone else holds it, or it is free already
            self.table.update_item(
                Key={"pk": p.pk, "sk": p.name}, UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression=Attr("lease_owner").eq(owner))

    def hold(self, name: str, owner: str, seconds: float) -> bool:
        """A lease on something other than a partition (``name`` is its key), e.g. the right
        to run a source's polling loop; False while another owner holds it."""
        now = time.time()
        try:
            self.table.update_item(
                Key={"pk": name, "sk": "_lease"},
                UpdateExpression="SET lease_owner = :o, lease_until = :u",
                ConditionExpression=(Attr("lease_until").not_exists()
                                     | Attr("lease_until").lt(Decimal(str(now)))
                                     | Attr("lease_owner").eq(owner)),
                ExpressionAttributeValues={":o": owner, ":u": Decimal(str(now + seconds))})
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def let_go(self, name: str, owner: str) -> None:
        with contextlib.suppress(ClientError):
            self.table.update_item(
                Key={"pk": name, "sk": "_lease"},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression=Attr("lease_owner").eq(owner))

    def reopen(self, p: Partition, keep_cursor: bool = False) -> bool:
        """Make a finished partition fetchable again (the next pass of an incremental stream);
        ``keep_cursor``: it goes on from where the last pass ended. A failed one is tried
        again from where it failed, its retries counted afresh (its error stays until a page
        lands)."""
        if p.status == "failed":
            update, names = "SET #s = :p, attempts = :z REMOVE retry_at", {"#s": "status"}
            values = {":p": "pending", ":z": 0}
        else:
            remove = "REMOVE pass_top" if keep_cursor else "REMOVE #c, pass_top"
            update = f"SET #s = :p {remove}"
            names = {"#s": "status"} | ({} if keep_cursor else {"#c": "cursor"})
            values = {":p": "pending"}
        try:
            self.table.update_item(Key={"pk": p.pk, "sk": p.name}, UpdateExpression=update,
                                   ConditionExpression=Attr("status").eq(p.status),
                                   ExpressionAttributeNames=names,
                                   ExpressionAttributeValues=values)
            p.status, p.attempts, p.retry_at = "pending", 0, 0.0
            return True
        except ClientError as exc:  # another fetcher reopened it first
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
