"""SQS event source mappings, polled the way Lambda polls them.

Each poller long-polls its queue, gathers up to ``BatchSize`` records within the batching
window, invokes the function with a ``Records`` event and then deletes what succeeded. On a
function error nothing is deleted, so the batch reappears after the queue's visibility
timeout; with ``ReportBatchItemFailures`` only the records named in ``batchItemFailures``
stay. Redrive to the DLQ after ``maxReceiveCount`` is the queue's own (the emulator's) job.

Every receive counts toward ``maxReceiveCount``, so a poller receives only when the function
has a free worker (as Lambda scales its pollers with the function's concurrency), and a batch
that still has to wait for one (a direct invocation took the worker first) is kept hidden
until it runs: a message reaches the DLQ only after its handler failed, not for waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from localcloud.cfn import ACCOUNT_ID
from localcloud.runtime.pool import FunctionPool, InvokeResult, Throttled
from localcloud.template import SqsTrigger
from tributary.log import get_logger

log = get_logger("runtime.sqs")
_LONG_POLL_S = 2  # short enough to notice shutdown quickly


def failed_message_ids(result: InvokeResult, batch_ids: set[str], partial: bool) -> set[str]:
    """Which records go back to the queue after an invocation (Lambda's rules)."""
    if result.error:
        return set(batch_ids)
    if not partial:
        return set()
    response = result.json()
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return set()
    ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    # A malformed or unknown identifier makes Lambda treat the whole batch as failed.
    if None in ids or "" in ids or not ids <= batch_ids:
        return set(batch_ids)
    return {i for i in ids if isinstance(i, str)}


def to_record(msg: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": msg["Body"],
        "attributes": msg.get("Attributes", {}),
        "messageAttributes": {
            k: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                "stringListValues": [], "binaryListValues": [], "dataType": v["DataType"]}
            for k, v in (msg.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": msg.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPoller:
    """``threads`` pollers for one mapping; each invokes synchronously, like Lambda's pollers."""

    def __init__(self, trigger: SqsTrigger, pool: FunctionPool, sqs: Any, region: str,
                 stop: threading.Event, latencies: deque[float]) -> None:
        self.trigger = trigger
        self.pool = pool
        self.sqs = sqs
        self.region = region
        self.stop = stop
        self.latencies = latencies
        self.queue_arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{trigger.queue_name}"
        self.batches = 0
        self.records = 0
        self.threads = min(pool.concurrency, trigger.max_concurrency or pool.concurrency)
        self.visibility_s = 30  # the queue's VisibilityTimeout (SQS's default until read)
        self._held: dict[str, str] = {}  # receipt handle -> queue URL: received, not settled
        self._held_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if not self.trigger.enabled:
            return
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, daemon=True,
                                      name=f"sqs-{self.trigger.queue_name}-{i}")
            thread.start()
            self._threads.append(thread)

    def join(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic) for the poll threads to end after ``stop``: a
        long poll under way returns within ``_LONG_POLL_S`` and gives back what it got."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _queue_url(self) -> str:
        """The queue's URL, once it exists; reads its visibility timeout on the way."""
        while not self.stop.is_set():
            try:
                url: str = self.sqs.get_queue_url(QueueName=self.trigger.queue_name)["QueueUrl"]
                self.visibility_s = int(self.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["VisibilityTimeout"]
                )["Attributes"]["VisibilityTimeout"])
                return url
            except Exception as exc:  # noqa: BLE001 - not deployed yet, or emulator restarting
                log.debug("queue not available yet", extra={"queue": self.trigger.queue_name,
                                                            "error": str(exc)})
                self.stop.wait(1.0)
        return ""

    def _receive(self, url: str, count: int, wait_s: int) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=max(1, min(10, count)), WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        messages: list[dict[str, Any]] = resp.get("Messages", [])
        self._hold(url, messages)  # from now on a stop gives them back
        if self.stop.is_set():
            self.release()
        return messages

    def _gather(self, url: str) -> list[dict[str, Any]]:
        size = self.trigger.batch_size
        batch = last = self._receive(url, size, _LONG_POLL_S)
        deadline = time.monotonic() + self.trigger.batching_window_s
        while batch and len(batch) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and len(last) < 10:
                break  # window over and nothing more is waiting: invoke with what we have
            last = self._receive(url, size - len(batch), int(remaining) if remaining >= 1 else 0)
            batch.extend(last)
            if not last and 0 < remaining < 1:
                self.stop.wait(min(remaining, 0.05))
        return batch

    def _loop(self) -> None:
        url = self._queue_url()
        while not self.stop.is_set():
            if not self.pool.has_capacity(_LONG_POLL_S):
                continue  # what no worker can take stays in the queue, its receives uncounted
            received_by = time.monotonic()
            try:
                batch = self._gather(url)
            except Exception as exc:  # noqa: BLE001 - keep polling through emulator hiccups
                log.warning("receive failed", extra={"queue": self.trigger.queue_name,
                                                     "error": str(exc)})
                self.stop.wait(1.0)
                url = self._queue_url()
                continue
            if self.stop.is_set():
                self.release()  # received as the runtime stops: back to the queue
                break
            if batch:
                self._dispatch(url, batch, received_by)
                self._settle(batch)

    def _hold(self, url: str, batch: list[dict[str, Any]]) -> None:
        with self._held_lock:
            self._held.update({m["ReceiptHandle"]: url for m in batch})

    def _settle(self, batch: list[dict[str, Any]]) -> None:
        with self._held_lock:
            for m in batch:
                self._held.pop(m["ReceiptHandle"], None)

    def release(self) -> int:
        """Give every message this poller holds back to its queue at once (visibility 0), so
        a clean stop of the runtime leaves nothing to wait out its visibility timeout, as a
        crash does. Returns how many. Their receive was counted when they were received; the
        release adds none, so a stop costs a held message one receive, like a crash."""
        with self._held_lock:
            held, self._held = self._held, {}
        by_queue: dict[str, list[str]] = {}
        for receipt, url in held.items():
            by_queue.setdefault(url, []).append(receipt)
        for url, receipts in by_queue.items():
            self._change_visibility(url, receipts, 0)
        return len(held)

    def _change_visibility(self, url: str, receipts: list[str], seconds: int) -> None:
        """Best effort: a message whose change fails reappears after its current timeout."""
        for i in range(0, len(receipts), 10):
            try:
                resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "ReceiptHandle": r, "VisibilityTimeout": seconds}
                    for n, r in enumerate(receipts[i:i + 10])])
                failed = resp.get("Failed")
            except Exception as exc:  # noqa: BLE001 - emulator restarting
                failed = str(exc)
            if failed:
                log.warning("could not change message visibility", extra={
                    "queue": self.trigger.queue_name, "seconds": seconds, "error": failed})

    def _keep_hidden(self, url: str, batch: list[dict[str, Any]], received_by: float
                     ) -> Callable[[], bool]:
        """For ``FunctionPool.invoke``'s wait for a worker: push the batch's visibility
        timeout back before it lapses, so it is not received again (one more receive toward
        the DLQ) while it waits; False (give up) once the runtime stops."""
        receipts = [m["ReceiptHandle"] for m in batch]
        every = self.visibility_s / 3  # two renewals may fail before the batch reappears
        due = received_by + every

        def waiting() -> bool:
            nonlocal due
            if self.stop.is_set():
                return False
            if time.monotonic() >= due:
                self._change_visibility(url, receipts, self.visibility_s)
                due = time.monotonic() + every
            return True

        return waiting

    def _dispatch(self, url: str, batch: list[dict[str, Any]], received_by: float) -> None:
        now_ms = time.time() * 1000
        for m in batch:
            sent = m.get("Attributes", {}).get("SentTimestamp")
            if sent:
                self.latencies.append(now_ms - int(sent))
        event = {"Records": [to_record(m, self.queue_arn, self.region) for m in batch]}
        try:
            result = self.pool.invoke(
                event, while_waiting=self._keep_hidden(url, batch, received_by))
        except Throttled:  # the runtime stops while the batch waits: back to the queue
            self.release()
            return
        self.batches += 1
        self.records += len(batch)
        ids = {m["MessageId"] for m in batch}
        failed = failed_message_ids(result, ids, self.trigger.report_batch_item_failures)
        done = [m for m in batch if m["MessageId"] not in failed]
        if failed:
            log.info("records returned to queue", extra={
                "function": self.pool.fn.name, "queue": self.trigger.queue_name,
                "failed": len(failed), "batch": len(batch), "error": result.error})
        for i in range(0, len(done), 10):
            chunk = done[i:i + 10]
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)])
