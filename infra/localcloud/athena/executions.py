"""Every query execution, kept on disk (SQLite, ``synchronous=FULL``) so ``ListQueryExecutions``
and ``GetQueryResults`` answer after the stack restarts, as Athena's do for 45 days.

An execution that was running when the service stopped cannot be resumed: it is FAILED with a
reason saying so; one still queued is run when the service starts again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from localcloud.athena.errors import InvalidRequest

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
DONE = {SUCCEEDED, FAILED, CANCELLED}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    body TEXT NOT NULL
)"""


@dataclass
class Execution:
    id: str
    query: str
    workgroup: str
    database: str
    catalog: str
    output: str  # s3://bucket/prefix/<id>.csv
    statement_type: str  # DML | DDL | UTILITY
    state: str = QUEUED
    reason: str | None = None
    error: dict[str, Any] | None = None  # AthenaError
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    completed: float | None = None
    scanned_bytes: int = 0
    rows: int = 0
    columns: list[dict[str, Any]] = field(default_factory=list)

    def as_api(self) -> dict[str, Any]:
        """``QueryExecution`` as Athena answers it."""
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.error:
            status["AthenaError"] = self.error
        engine_ms = int(1000 * ((self.completed or time.time()) - (self.started or
                                                                   self.submitted)))
        queue_ms = int(1000 * ((self.started or time.time()) - self.submitted))
        return {
            "QueryExecutionId": self.id, "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": self.output},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "Status": status,
            "Statistics": {"EngineExecutionTimeInMillis": engine_ms if self.started else 0,
                           "DataScannedInBytes": self.scanned_bytes,
                           "TotalExecutionTimeInMillis": engine_ms + queue_ms
                           if self.completed else queue_ms,
                           "QueryQueueTimeInMillis": queue_ms,
                           "ServicePreProcessingTimeInMillis": 0,
                           "QueryPlanningTimeInMillis": 0, "ServiceProcessingTimeInMillis": 0},
            "WorkGroup": self.workgroup,
            "EngineVersion": {"SelectedEngineVersion": "AUTO",
                              "EffectiveEngineVersion": "Athena engine version 3"},
            "SubstatementType": _substatement(self.query),
        }


def _substatement(query: str) -> str:
    word = (query.strip().split(None, 1) or ["SELECT"])[0].upper()
    return {"UNLOAD": "UNLOAD", "SHOW": "SHOW", "DESCRIBE": "DESCRIBE"}.get(word, "SELECT")


class Executions:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # an answered call is on disk
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def save(self, ex: Execution) -> None:
        body = orjson.dumps(asdict(ex)).decode()
        with self._lock:
            self._db.execute("INSERT INTO executions (id, body) VALUES (?, ?) ON CONFLICT(id) "
                             "DO UPDATE SET body = excluded.body", (ex.id, body))

    def get(self, execution_id: str) -> Execution:
        with self._lock:
            row = self._db.execute("SELECT body FROM executions WHERE id = ?",
                                   (execution_id,)).fetchone()
        if row is None:
            raise InvalidRequest(f"QueryExecution {execution_id} was not found")
        return Execution(**orjson.loads(row[0]))

    def ids(self, workgroup: str, after_seq: int | None, limit: int) -> tuple[list[str],
                                                                               int | None]:
        """Newest first, as Athena lists them; the seq to go on from, if any are left."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id FROM executions WHERE json_extract(body, '$.workgroup') = ? "
                "AND seq < ? ORDER BY seq DESC LIMIT ?",
                (workgroup, after_seq if after_seq is not None else 2**62, limit + 1)).fetchall()
        more = rows[limit][0] + 1 if len(rows) > limit else None
        return [r[1] for r in rows[:limit]], more

    def unfinished(self) -> list[Execution]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM executions WHERE json_extract(body, '$.state') IN (?, ?) "
                "ORDER BY seq", (QUEUED, RUNNING)).fetchall()
        return [Execution(**orjson.loads(r[0])) for r in rows]
