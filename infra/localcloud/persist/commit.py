"""Group commit: the writes of concurrent requests go to disk together, so they share the
fsyncs that make them durable (one of the SQLite WAL per group, one per directory holding new
object files) instead of paying them one request at a time.

A request hands its change over (``submit``, in the order its kind's lock gives it) and waits
for its ``Ticket`` before it answers. One thread takes everything handed over so far, syncs the
directories it names, runs the changes in one transaction, commits, then removes the files the
changes released (a file is unlinked only once no committed row points at it), then answers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from localcloud.persist.files import Files

# A change runs inside the group's transaction and returns the files it made unreachable.
Change = Callable[[sqlite3.Connection], Iterable[Path]]


class Ticket:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._error: BaseException | None = None
        self.submitted = time.perf_counter()

    def finish(self, error: BaseException | None) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> None:
        """Return once the change is durable; raise what stopped it from becoming so."""
        self._done.wait()
        if self._error is not None:
            raise RuntimeError(f"the emulator could not keep a write: {self._error}") \
                from self._error


class GroupCommit:
    def __init__(self, db: sqlite3.Connection, files: Files, lock: threading.Lock) -> None:
        self._db, self._files, self._lock = db, files, lock
        self._pending: list[tuple[Change, tuple[Path, ...], Ticket]] = []
        self._wake = threading.Condition()
        self.groups = self.writes = 0
        self.waited_s = 0.0  # from hand-over to durable, summed over every write
        threading.Thread(target=self._run, name="group-commit", daemon=True).start()

    def submit(self, change: Change, dirs: tuple[Path, ...] = ()) -> Ticket:
        """Queue ``change``, to be committed after the changes submitted before it; ``dirs``
        are synced first (they hold new files its rows point at)."""
        ticket = Ticket()
        with self._wake:
            self._pending.append((change, dirs, ticket))
            self._wake.notify()
        return ticket

    def _take(self) -> list[tuple[Change, tuple[Path, ...], Ticket]]:
        with self._wake:
            while not self._pending:
                self._wake.wait()
            group, self._pending = self._pending, []
        return group

    def _run(self) -> None:
        while True:
            group = self._take()
            try:
                released = self._commit(group)
                error: BaseException | None = None
            except Exception as exc:  # every request of the group answers with it
                error, released = exc, []
            for path in released:
                path.unlink(missing_ok=True)
            now = time.perf_counter()
            for _, _, ticket in group:
                ticket.finish(error)
                self.waited_s += now - ticket.submitted
            self.writes += len(group)

    def _commit(self, group: list[tuple[Change, tuple[Path, ...], Ticket]]) -> list[Path]:
        for folder in dict.fromkeys(d for _, dirs, _ in group for d in dirs):
            self._files.sync_dir(folder)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                released = [p for change, _, _ in group for p in change(self._db)]
            except Exception:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self.groups += 1
        return released

    def stats(self) -> dict[str, float]:
        """For operators: how many writes, in how many commits, and their mean wait."""
        return {"writes": self.writes, "commits": self.groups,
                "mean_wait_ms": round(1000 * self.waited_s / max(1, self.writes), 3)}
