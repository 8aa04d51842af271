"""The emulator's state on disk: one SQLite database and the S3 object files beside it.

Layout of ``<state>/`` (``.tributary/emulator/`` by default):
- ``state.db``: ``buckets`` and ``objects`` (S3 metadata), ``messages`` (SQS messages, one row
  each while queued), ``journal`` (the successful mutating DynamoDB, EventBridge and SQS
  queue calls, replayed in order at start and then rewritten as a snapshot);
- ``objects/<2 hex>/<sha256 of bucket and key>``: each object's bytes.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed write survives a crash or a
SIGKILL of any process (it is in the operating system's hands); only a power cut can lose the
last ones. An object's file is written (to a temporary name, then renamed) before its row, so
a row never points at half a file; a file without a row is an orphan and ignored.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

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


class StateStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = folder / "objects"
        self.files.mkdir(parents=True, exist_ok=True)
        db = folder / "state.db"
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            problem = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem != "ok":
            raise DamagedState(f"the emulator's state is damaged; nothing was started:\n  "
                               f"{db}: {problem}\nrestore it, or throw the state away with "
                               "`tributary stack down --purge`")
        self._lock = threading.Lock()
        self._seq = 0

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._lock:
            self._db.execute(sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- S3 ---------------------------------------------------------------------------------------
    def put_bucket(self, name: str, region: str) -> None:
        self._run("INSERT OR REPLACE INTO buckets VALUES (?, ?)", (name, region))

    def delete_bucket(self, name: str) -> None:
        for (path,) in self._rows("SELECT file FROM objects WHERE bucket = ?", (name,)):
            (self.folder / path).unlink(missing_ok=True)
        self._run("DELETE FROM objects WHERE bucket = ?", (name,))
        self._run("DELETE FROM buckets WHERE name = ?", (name,))

    def buckets(self) -> list[tuple[str, str]]:
        return [(n, r) for n, r in self._rows("SELECT name, region FROM buckets ORDER BY name")]

    def object_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(f"{bucket}\0{key}".encode()).hexdigest()
        return self.files / digest[:2] / digest

    def put_object(self, bucket: str, key: str, value: bytes, etag: str, last_modified: float,
                   metadata: dict[str, str]) -> None:
        path = self.object_path(bucket, key)
        rel = str(path.relative_to(self.folder))
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(value)
        os.replace(tmp, path)
        self._run("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (bucket, key, rel, len(value), etag, last_modified,
                   orjson.dumps(metadata).decode()))

    def delete_object(self, bucket: str, key: str) -> None:
        rows = self._rows("SELECT file FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        self._run("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        for (path,) in rows:
            (self.folder / path).unlink(missing_ok=True)

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

    # -- SQS messages -----------------------------------------------------------------------------
    def put_message(self, queue: str, message_id: str, body: str, attributes: dict[str, Any],
                    sent_timestamp: int | None, receive_count: int, group_id: str | None,
                    dedup_id: str | None) -> None:
        with self._lock:
            self._seq += 1
            self._db.execute("INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (message_id, queue, body, orjson.dumps(attributes).decode(),
                              sent_timestamp, receive_count, group_id, dedup_id, self._seq))

    def delete_messages(self, ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])

    def purge_queue(self, queue: str) -> None:
        self._run("DELETE FROM messages WHERE queue = ?", (queue,))

    def messages(self) -> list[tuple[Any, ...]]:
        """(queue, id, body, attributes, sent_timestamp, receive_count, group_id, dedup_id), in
        the order they were queued."""
        rows = self._rows("SELECT queue, id, body, attributes, sent_timestamp, receive_count, "
                          "group_id, dedup_id, seq FROM messages ORDER BY seq")
        self._seq = max((r[-1] for r in rows), default=0)
        return [(*r[:3], orjson.loads(r[3]), *r[4:8]) for r in rows]

    # -- the journal of API calls -----------------------------------------------------------------
    def record(self, service: str, target: str, body: bytes) -> None:
        self._run("INSERT INTO journal (service, target, body) VALUES (?, ?, ?)",
                  (service, target, body))

    def journal(self) -> list[tuple[str, str, bytes]]:
        return [(s, t, bytes(b)) for s, t, b in
                self._rows("SELECT service, target, body FROM journal ORDER BY seq")]

    def rewrite_journal(self, entries: list[tuple[str, str, bytes]]) -> None:
        """Replace the journal with ``entries`` (a snapshot), in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM journal")
            self._db.executemany("INSERT INTO journal (service, target, body) VALUES (?, ?, ?)",
                                 entries)
            self._db.execute("COMMIT")
