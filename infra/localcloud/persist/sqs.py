"""SQS messages kept on disk: each message is written (durably) when it is queued (or moved to its
dead-letter queue) and removed when deleted or purged, through moto's own queue methods, so
every path that changes a queue is covered. At start they come back visible: a message that
was in flight when the emulator died is delivered again, as after its visibility timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from localcloud.persist.commit import Ticket
from localcloud.persist.store import StateStore

ACCOUNT = "123456789012"


def _save(store: StateStore, queue: Any, m: Any) -> Ticket:
    return store.put_message(queue.queue_arn, m.id, m.body, m.message_attributes,
                             m.sent_timestamp, m.approximate_receive_count, m.group_id,
                             m.deduplication_id)


def install(store: StateStore) -> None:
    """Each change to a queue is handed to the store under one lock, so the disk sees a
    message's send before its delete; the change is waited for outside it, so concurrent
    requests share their fsyncs."""
    from moto.sqs.models import Queue, SQSBackend

    add, delete = Queue.add_message, Queue.delete_message
    purge, drop = SQSBackend.purge_queue, SQSBackend.delete_queue
    lock = threading.RLock()  # moto's add_message may delete (its own Lambda mappings)

    def kept(change: Callable[[], Ticket | None]) -> None:
        with lock:
            ticket = change()
        if ticket is not None:
            ticket.wait()

    def added(queue: Any, message: Any) -> Ticket | None:
        add(queue, message)
        queued = any(m is message for m in queue._messages)  # a FIFO duplicate is not
        return _save(store, queue, message) if queued else None

    def deleted(queue: Any, receipt_handle: str) -> Ticket:
        ids = [m.id for m in queue._messages if m.had_receipt_handle(receipt_handle)]
        delete(queue, receipt_handle)
        return store.delete_messages(ids)

    def emptied(backend: Any, queue_name: str, empty: Callable[..., None]) -> Ticket:
        arn = backend.get_queue(queue_name).queue_arn
        empty(backend, queue_name)
        return store.purge_queue(arn)

    def add_message(self: Any, message: Any) -> None:
        kept(lambda: added(self, message))

    def delete_message(self: Any, receipt_handle: str) -> None:
        kept(lambda: deleted(self, receipt_handle))

    def purge_queue(self: Any, queue_name: str) -> None:
        kept(lambda: emptied(self, queue_name, purge))

    def delete_queue(self: Any, queue_name: str) -> None:
        kept(lambda: emptied(self, queue_name, drop))

    Queue.add_message = add_message  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]
    SQSBackend.purge_queue = purge_queue  # type: ignore[method-assign]
    SQSBackend.delete_queue = delete_queue  # type: ignore[method-assign]


def restore(store: StateStore) -> tuple[int, list[str]]:
    """Messages back into their queues (which the journal has recreated); returns how many,
    and the queues that no longer exist (their messages are left on disk)."""
    from moto.sqs.models import Message, sqs_backends

    restored, missing = 0, set()
    for arn, mid, body, attrs, sent, count, group, dedup in store.messages():
        region, name = arn.split(":")[3], arn.split(":")[5]
        queue = sqs_backends[ACCOUNT][region].queues.get(name)
        if queue is None:
            missing.add(arn)
            continue
        m = Message(mid, body)
        m.message_attributes = attrs
        m.sent_timestamp, m.approximate_receive_count = sent, count
        m.group_id, m.deduplication_id = group, dedup
        queue._messages.append(m)
        restored += 1
    return restored, sorted(missing)
