"""What the emulator changes in moto, each for a measured reason; ``apply`` makes them all.

Each change keeps moto's answers the same (tests/unit/test_moto_fixes.py) and removes a cost
that grew with the stack's data or made a frequent call slow.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson

# Reads whose answer is items: the ones a progress poll and the fetchers make all the time.
_ITEM_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


def apply() -> None:
    _keep_s3_bodies_out_of_memory()
    _keep_sqs_polling_to_the_runtime()
    _make_sqs_cost_independent_of_queue_depth()
    _write_dynamodb_items_directly()
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
