"""What the emulator changes in moto, each for a measured reason; ``apply`` makes them all.

Each change keeps moto's answers the same (tests/unit/test_moto_fixes.py) and removes a cost
that grew with the stack's data or made a frequent call slow.
"""

from __future__ import annotations

import base64
import bisect
import os
import threading
from collections.abc import Iterator
from typing import Any

import orjson

# Reads whose answer is items: the ones a progress poll and the fetchers make all the time.
_ITEM_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


def apply() -> None:
    _track_no_instances()
    _keep_s3_bodies_out_of_memory()
    _list_s3_keys_by_index()
    _keep_sqs_polling_to_the_runtime()
    _make_sqs_cost_independent_of_queue_depth()
    _write_dynamodb_items_directly()
    _query_one_partition_key()
    _project_each_item_once()
    _match_no_event_on_a_schedule()


def _keep_sqs_polling_to_the_runtime() -> None:
    """Stop moto from dispatching SQS messages to Lambda itself (it would use Docker).

    moto registers each mapping on the queue and invokes on every send; the function runtime
    polls SQS as Lambda does instead, so the queue's registry is made write-only.
    """
    from moto.sqs.models import Queue

    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )


def _make_sqs_cost_independent_of_queue_depth() -> None:
    """Two hot spots that made every SQS call O(queue depth) in moto 5.2.

    Receiving checked each message's retention through ``get_queue_attributes``, which
    recomputes every attribute, including counts that scan the whole queue; and those scans
    call a datetime-based ``unix_time()`` several times per message. Same semantics, cheaper.
    """
    import time

    from moto.core import utils as core_utils
    from moto.sqs import models

    slow_unix_time = core_utils.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else slow_unix_time(dt)

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > time.time())

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    setattr(models, "unix_time", unix_time)  # noqa: B010 - module-level names moto looks up
    setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010
    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]


def _keep_s3_bodies_out_of_memory() -> None:
    """moto keeps every object under 5 MB in memory (a spooled temporary file), so the
    emulator's memory grew with the lake: 388 MB after 3M events, 951 MB after 10M. Bodies
    over 64 KiB go to its temporary files instead (the OS caches them; the state folder keeps
    the durable copy)."""
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(64 * 1024))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):  # B and BS values travel as base64 text
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _write_dynamodb_items_directly() -> None:
    """moto 5.2 writes every answer through a serializer that walks botocore's shape of each
    value: 1.3 ms per item, so one scan of a 600-item checkpoint table cost the emulator
    0.77 s, and a progress poll every second kept a core busy. Item reads are already
    DynamoDB JSON once moto has made them plain (``dynamo_to_dict``): written as they are."""
    from moto.dynamodb.responses import DynamoResult

    shaped = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in _ITEM_READS:
            return shaped(self, context)
        body = orjson.dumps(self.result, default=_json_default)
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, body.decode()

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def _project_each_item_once() -> None:
    """moto's projection rebuilt the whole item as plain JSON once per projected attribute
    (eight times per item for a progress poll's scan: 122 ms a scan, 15 s of the emulator's
    CPU in one ingestion). Rebuilt once per item; each picked part is copied before merging,
    as moto's own fresh copies were."""
    import copy

    from botocore.utils import merge_dicts
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import find_nested_key

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        whole = self.to_regular_json()
        result: dict[str, Any] = {}
        for expr in projection_expressions:
            merge_dicts(result, copy.deepcopy(find_nested_key(expr, whole)))
        return dynamo_type.Item(hash_key=self.hash_key, range_key=self.range_key,
                                attrs=dynamo_type.serializer.serialize(result)["M"])

    dynamo_type.Item.project = project  # type: ignore[method-assign]


def _match_no_event_on_a_schedule() -> None:
    """In EventBridge a rule with a schedule and no event pattern matches no event; moto's
    empty pattern matches every one and then cannot deliver it to the rule's Lambda target
    (``NotImplementedError``), so any ``PutEvents`` to the default bus, where the stack's
    schedules are, answered 500."""
    from moto.events.models import Rule

    send = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if self.scheduled_expression and not self.event_pattern.get_pattern():
            return
        send(self, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


_MAX_CHAR = "\U0010ffff"


def _list_s3_keys_by_index() -> None:
    """moto lists a bucket by scanning every key in it (a copy of the whole store, then a
    lookup per key), so a LIST cost ~12 ms on a lake of a few 10,000 objects; in a stack that
    had run for 30 minutes LISTs of the lake were the emulator's second largest CPU item
    (118 s). A sorted index of each bucket's names makes a listing read only the keys under
    its prefix, and one key per folder when listed with a delimiter.

    The index is kept on every change moto makes through the store's methods; one whose
    length disagrees with the store (a change made some other way) is rebuilt.
    """
    from moto.s3 import models, utils

    if getattr(models.S3Backend, "_listed_by_index", False):
        return  # applied before: wrapping twice would index an index
    models.S3Backend._listed_by_index = True  # type: ignore[attr-defined]
    store = utils._VersionedKeyStore
    lock = threading.Lock()
    set_item, pop, set_list = store.__setitem__, store.pop, store.setlist

    def names(self: Any) -> list[str]:
        index: list[str] | None = self.__dict__.get("_names")
        if index is None or len(index) != dict.__len__(self):
            index = self.__dict__["_names"] = sorted(dict.keys(self))
        return index

    def added(self: Any, key: str, new: bool) -> None:
        index = self.__dict__.get("_names")
        if new and index is not None:
            bisect.insort(index, key)

    def setitem(self: Any, key: str, value: Any) -> None:
        with lock:
            new = not dict.__contains__(self, key)
            set_item(self, key, value)
            added(self, key, new)

    def setlist(self: Any, key: str, versions: Any) -> None:
        with lock:
            new = not dict.__contains__(self, key)
            set_list(self, key, versions)
            added(self, key, new)

    def pop_key(self: Any, key: str) -> None:
        with lock:
            pop(self, key)
            index = self.__dict__.get("_names")
            if index is not None:
                at = bisect.bisect_left(index, key)
                if at < len(index) and index[at] == key:
                    del index[at]

    store.__setitem__ = setitem  # type: ignore[method-assign]
    store.setlist = setlist  # type: ignore[method-assign,assignment]
    store.pop = pop_key  # type: ignore[method-assign]

    class Listed:
        """What moto's ``list_objects`` reads of a bucket: its keys under the prefix (one
        per folder when a delimiter folds them)."""

        def __init__(self, keys: Any, prefix: str, delimiter: str | None) -> None:
            self.store, self.prefix, self.delimiter = keys, prefix, delimiter

        def items(self) -> Iterator[tuple[str, Any]]:
            with lock:
                index = list(names(self.store))  # a copy: writers go on while this is read
            at = bisect.bisect_left(index, self.prefix)
            while at < len(index) and index[at].startswith(self.prefix):
                name = index[at]
                value = self.store.get(name)
                if value is not None:
                    yield name, value
                rest = name[len(self.prefix):]
                if self.delimiter and self.delimiter in rest:  # the rest of this folder
                    folder = self.prefix + rest.split(self.delimiter)[0] + self.delimiter
                    at = bisect.bisect_left(index, folder + _MAX_CHAR, at + 1)
                else:
                    at += 1

    class Bucket:
        def __init__(self, bucket: Any, prefix: str, delimiter: str | None) -> None:
            self.keys = Listed(bucket.keys, prefix, delimiter)

    original: Any = models.S3Backend.list_objects

    def list_objects(self: Any, bucket: Any, prefix: str | None, delimiter: str | None,
                     marker: str | None, max_keys: int | None) -> Any:
        if isinstance(bucket, models.FakeTableStorageBucket):
            return original(self, bucket, prefix, delimiter, marker, max_keys)
        return original(self, Bucket(bucket, prefix or "", delimiter), prefix, delimiter,
                        marker, max_keys)

    models.S3Backend.list_objects = list_objects  # type: ignore[method-assign]


def _track_no_instances() -> None:
    """moto keeps every model object it ever made in a list on its class (for its dashboard
    and for resetting mocks): each item a DynamoDB query copied into its answer (15 KB per
    query of 20 items), each S3 key version, each SQS message. A server never resets, so the
    emulator grew by ~16 MB a minute with nothing to ingest (a stack's leases and polls):
    1 GB an hour. Objects are made as before, and no longer kept."""
    from moto.core.common_models import BaseModel

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)  # type: ignore[misc]

    BaseModel.__new__ = new  # type: ignore[method-assign]


def _query_one_partition_key() -> None:
    """moto answers a Query on a table's own key by sorting every item of the table, then
    keeping the key's: 13 ms a query on a 600-item checkpoints table, the emulator's largest
    CPU item in a 30-minute soak (189 s of 666 s). Such a query now sorts that key's items
    only (a query on an index is left as it was)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_queried_by_key", False):
        return  # applied before
    Table._queried_by_key = True  # type: ignore[attr-defined]
    asked = threading.local()  # the table and key the query under way in this thread reads
    every_item, query = Table.all_items, Table.query

    def all_items(self: Any) -> list[Any]:
        only = getattr(asked, "only", None)
        if only is None or only[0] is not self:
            return every_item(self)
        found = self.items.get(only[1])
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key
                      else x.hash_key)

    def query_key(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        asked.only = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            asked.only = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query_key  # type: ignore[method-assign]

