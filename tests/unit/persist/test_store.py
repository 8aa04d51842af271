"""The emulator's store: rows point only at whole files, files nothing points at go away, and
concurrent writes share their commits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from localcloud.persist import s3 as s3_mirror
from localcloud.persist.store import StateStore


def _files(store: StateStore) -> list[Path]:
    return sorted(p for p in store.files.glob("*/*") if p.is_file())


def test_a_replaced_object_leaves_one_file_with_the_new_bytes(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    for value in (b"first", b"second"):
        path = store.write_object("b", "k", value)
        store.put_object("b", "k", path, len(value), "etag", 0.0, {"a": "1"}).wait()
    [stored] = list(store.objects())
    assert stored.path.read_bytes() == b"second" and stored.metadata == {"a": "1"}
    assert _files(store) == [stored.path]
    store.delete_object("b", "k").wait()
    assert list(store.objects()) == [] and _files(store) == []


def test_files_of_writes_never_acknowledged_are_removed_at_start(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    kept = store.write_object("b", "kept", b"kept")
    store.put_object("b", "kept", kept, 4, "etag", 0.0, {}).wait()
    store.write_object("b", "cut", b"the power went before its row was committed")
    assert StateStore(tmp_path).remove_orphans() == 1
    assert _files(store) == [kept] and store.check_objects() == []


def test_concurrent_writes_share_one_commit(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with store._lock:  # the committer waits here: every write below is handed over meanwhile
        tickets = [store.put_message("q", f"m{i}", "body", {}, None, 0, None, None)
                   for i in range(20)]
        before = store.durability()["commits"]
    for ticket in tickets:
        ticket.wait()
    assert store.durability()["commits"] - before == 1
    assert [m[1] for m in store.messages()] == [f"m{i}" for i in range(20)]


def test_a_failed_change_fails_its_request_and_the_store_goes_on(tmp_path: Path) -> None:
    store = StateStore(tmp_path)

    def broken(db: sqlite3.Connection) -> list[Path]:
        db.execute("INSERT INTO no_such_table VALUES (1)")
        return []

    with pytest.raises(RuntimeError, match="could not keep a write.*no_such_table"):
        store._commits.submit(broken).wait()
    store.put_bucket("b", "us-east-1").wait()
    assert store.buckets() == [("b", "us-east-1")]


def test_a_write_overtaken_by_a_newer_one_is_not_kept(tmp_path: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="cuts")
        s3.put_object(Bucket="cuts", Key="k", Body=b"old")
        store, lock = StateStore(tmp_path), threading.Lock()
        write = store.write_object

        def racing(bucket: str, key: str, value: bytes) -> Path:
            path = write(bucket, key, value)
            # a newer write lands, and is kept, while the older one's bytes are synced
            s3.put_object(Bucket="cuts", Key="k", Body=b"new")
            store.write_object = write  # type: ignore[method-assign]
            newer = s3_mirror._save(store, lock, "cuts", "k")
            assert newer is not None
            newer.wait()
            return path

        store.write_object = racing  # type: ignore[method-assign]
        assert s3_mirror._save(store, lock, "cuts", "k") is None
    [stored] = list(store.objects())
    assert stored.path.read_bytes() == b"new" and _files(store) == [stored.path]
