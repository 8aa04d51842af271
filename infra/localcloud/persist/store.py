"""The emulator's state on disk: one SQLite database and the S3 object files beside it.

Layout of ``<state>/`` (``.tributary/emulator/`` by default):
- ``state.db``: ``buckets`` and ``objects`` (S3 metadata), ``messages`` (SQS messages, one row
  each while queued), ``journal`` (the successful mutating DynamoDB, EventBridge and SQS
  queue calls, replayed in order at start and then rewritten as a snapshot);
- ``objects/<2 hex>/<sha256 of bucket and key>.<random>``: the bytes of each object version.

A write is acknowledged only once it would survive a power cut: an object's bytes go to a
new file that is fsynced, its directory is fsynced, then its row is committed with SQLite's
``synchronous=FULL`` (WAL mode with ``NORMAL`` keeps a commit through a crash of the process
but may roll it back after a power loss or a crash of the machine). Concurrent writes share
those fsyncs (``commit.GroupCommit``). So a row never points at a missing or short file; a
file no row points at is left by a write that was never acknowledged (or an old version whose
removal a crash interrupted) and is removed at start.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from localcloud.persist.commit import GroupCommit, Ticket
from localcloud.persist.files import Files

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, region TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, last_modified REAL NOT NULL, metadata TEXT NOT NULL,
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, queue TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT NOT NULL,
    sent_timestamp INTEGER, receive_count INTEGER NOT NULL, group_id TEXT, dedup_id TEXT,
    seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, target TEXT NOT NULL,
    body BLOB NOT NULL);
"""
_NONE: tuple[Path, ...] = ()


class DamagedState(RuntimeError):
    """What is on disk does not match what was recorded: named, never silently dropped."""


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    path: Path
    size: int
    etag: str
    last_modified: float
    metadata: dict[str, str]


def damaged(what: str) -> DamagedState:
    return DamagedState(f"the emulator's state is damaged; nothing was started:\n  {what}\n"
                        "restore what is named, or throw the state away with "
                        "`tributary stack down --purge`")


class StateStore:
    """``sync=False`` (the crash harness's negative control only) skips every fsync."""

    def __init__(self, folder: Path, sync: bool = True) -> None:
        self.folder = folder
        self.files = folder / "objects"
        self._disk = Files(sync)
        self._disk.mkdirs(self.files)
        db = folder / "state.db"
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if sync else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            problem = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem != "ok":
            raise damaged(f"{db}: {problem}")
        self._disk.sync_dir(folder)  # state.db's own name
        self._lock = threading.Lock()
        self._commits = GroupCommit(self._db, self._disk, self._lock)
        self._seq = count(1)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _change(self, sql: str, params: tuple[Any, ...] = ()) -> Ticket:
        def change(db: sqlite3.Connection) -> tuple[Path, ...]:
            db.execute(sql, params)
            return _NONE
        return self._commits.submit(change)

    def durability(self) -> dict[str, float]:
        """Durable writes so far, in how many group commits (one WAL fsync each), mean wait."""
        return self._commits.stats()

    # -- S3 ---------------------------------------------------------------------------------------
    def put_bucket(self, name: str, region: str) -> Ticket:
        return self._change("INSERT OR REPLACE INTO buckets VALUES (?, ?)", (name, region))

    def delete_bucket(self, name: str) -> Ticket:
        def change(db: sqlite3.Connection) -> list[Path]:
            files = db.execute("SELECT file FROM objects WHERE bucket = ?", (name,)).fetchall()
            db.execute("DELETE FROM objects WHERE bucket = ?", (name,))
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return [self.folder / f for (f,) in files]
        return self._commits.submit(change)

    def buckets(self) -> list[tuple[str, str]]:
        return [(n, r) for n, r in self._rows("SELECT name, region FROM buckets ORDER BY name")]

    def write_object(self, bucket: str, key: str, value: bytes) -> Path:
        """An object's bytes in a new durable file, for ``put_object`` to point at."""
        digest = hashlib.sha256(f"{bucket}\0{key}".encode()).hexdigest()
        folder = self.files / digest[:2]
        if not folder.is_dir():
            self._disk.mkdirs(folder)
        return self._disk.write_new(folder, digest, value)

    def put_object(self, bucket: str, key: str, path: Path, size: int, etag: str,
                   last_modified: float, metadata: dict[str, str]) -> Ticket:
        rel = str(path.relative_to(self.folder))

        def change(db: sqlite3.Connection) -> list[Path]:
            old = db.execute("SELECT file FROM objects WHERE bucket = ? AND key = ?",
                             (bucket, key)).fetchall()
            db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (bucket, key, rel, size, etag, last_modified,
                        orjson.dumps(metadata).decode()))
            return [self.folder / f for (f,) in old if f != rel]
        return self._commits.submit(change, (path.parent,))

    def discard(self, path: Path) -> None:
        """A written file no row will point at (its write was overtaken)."""
        path.unlink(missing_ok=True)

    def delete_object(self, bucket: str, key: str) -> Ticket:
        def change(db: sqlite3.Connection) -> list[Path]:
            files = db.execute("SELECT file FROM objects WHERE bucket = ? AND key = ?",
                               (bucket, key)).fetchall()
            db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            return [self.folder / f for (f,) in files]
        return self._commits.submit(change)

    def objects(self) -> Iterator[StoredObject]:
        for bucket, key, rel, size, etag, modified, meta in self._rows(
                "SELECT bucket, key, file, size, etag, last_modified, metadata FROM objects"):
            yield StoredObject(bucket, key, self.folder / rel, size, etag, modified,
                               orjson.loads(meta))

    def check_objects(self) -> list[str]:
        """Every recorded object whose file is missing or of another size, described."""
        damaged = []
        for o in self.objects():
            try:
                size = o.path.stat().st_size
            except FileNotFoundError:
                damaged.append(f"s3://{o.bucket}/{o.key}: its file {o.path} is missing")
                continue
            if size != o.size:
                damaged.append(f"s3://{o.bucket}/{o.key}: its file {o.path} holds {size} "
                               f"bytes, {o.size} were stored")
        return damaged

    def remove_orphans(self) -> int:
        """Remove the object files no row points at; returns how many."""
        kept = {self.folder / f for (f,) in self._rows("SELECT file FROM objects")}
        orphans = [p for p in self.files.glob("*/*") if p not in kept and p.is_file()]
        for path in orphans:
            path.unlink()
        return len(orphans)

    # -- SQS messages -----------------------------------------------------------------------------
    def put_message(self, queue: str, message_id: str, body: str, attributes: dict[str, Any],
                    sent_timestamp: int | None, receive_count: int, group_id: str | None,
                    dedup_id: str | None) -> Ticket:
        return self._change(
            "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, queue, body, orjson.dumps(attributes).decode(), sent_timestamp,
             receive_count, group_id, dedup_id, next(self._seq)))

    def delete_messages(self, ids: list[str]) -> Ticket:
        def change(db: sqlite3.Connection) -> tuple[Path, ...]:
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])
            return _NONE
        return self._commits.submit(change)

    def purge_queue(self, queue: str) -> Ticket:
        return self._change("DELETE FROM messages WHERE queue = ?", (queue,))

    def messages(self) -> list[tuple[Any, ...]]:
        """(queue, id, body, attributes, sent_timestamp, receive_count, group_id, dedup_id), in
        the order they were queued."""
        rows = self._rows("SELECT queue, id, body, attributes, sent_timestamp, receive_count, "
                          "group_id, dedup_id, seq FROM messages ORDER BY seq")
        self._seq = count(max((r[-1] for r in rows), default=0) + 1)
        return [(*r[:3], orjson.loads(r[3]), *r[4:8]) for r in rows]

    # -- the journal of API calls -----------------------------------------------------------------
    def record(self, service: str, target: str, body: bytes) -> Ticket:
        return self._change("INSERT INTO journal (service, target, body) VALUES (?, ?, ?)",
                            (service, target, body))

    def journal(self) -> list[tuple[str, str, bytes]]:
        return [(s, t, bytes(b)) for s, t, b in
                self._rows("SELECT service, target, body FROM journal ORDER BY seq")]

    def rewrite_journal(self, entries: list[tuple[str, str, bytes]]) -> None:
        """Replace the journal with ``entries`` (a snapshot), in one transaction."""
        def change(db: sqlite3.Connection) -> tuple[Path, ...]:
            db.execute("DELETE FROM journal")
            db.executemany("INSERT INTO journal (service, target, body) VALUES (?, ?, ?)",
                           entries)
            return _NONE
        self._commits.submit(change).wait()
