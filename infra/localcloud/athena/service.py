"""Athena's operations over Tributary's query engine: executions queue, run one at a time
(DuckDB uses both cores for one query), and are kept on disk with their results. The catalog
operations and ``SHOW``/``DESCRIBE`` are ``catalog.Catalog``'s.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.athena import dialect, paging, results
from localcloud.athena.catalog import CATALOG, Catalog
from localcloud.athena.errors import InvalidRequest, QueryFailed
from localcloud.athena.executions import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    Execution,
    Executions,
)
from tributary.query import glue as glue_catalog
from tributary.query.catalog import named
from tributary.query.engine import Engine, QueryError
from tributary.settings import Settings

WORKGROUP = "primary"
DATABASES = {glue_catalog.DATABASE, "default"}  # "default" is where Athena starts a session
# DuckDB's words for a failure, and Athena's error name for it.
_REASONS = (("Catalog Error: Table", "TABLE_NOT_FOUND"), ("Catalog Error", "SCHEMA_NOT_FOUND"),
            ("Binder Error", "COLUMN_NOT_FOUND"), ("Parser Error", "SYNTAX_ERROR"),
            ("memory limit", "EXCEEDED_MEMORY_LIMIT"), ("timeout", "EXCEEDED_TIME_LIMIT"),
            ("stopped on request", "USER_CANCELLED"))


class Athena:
    def __init__(self, settings: Settings, state: Path, clients: Callable[[str], Any]) -> None:
        self.settings = settings
        self.state = state
        self.output = settings.athena_output_location.rstrip("/") + "/"
        self.s3, self.glue = clients("s3"), clients("glue")
        self.store = Executions(state / "executions.sqlite")
        self.catalog = Catalog(settings, self.s3, self.glue)
        self._engine: Engine | None = None
        self._queue: queue.Queue[str] = queue.Queue()
        self._running: str | None = None
        self._cancel: set[str] = set()
        for ex in self.store.unfinished():
            if ex.state == RUNNING:
                self._finish(ex, FAILED, QueryFailed(
                    "INTERNAL_ERROR: the query service restarted while this query ran; run "
                    "it again", category=1, error_type=401))
            else:
                self._queue.put(ex.id)
        threading.Thread(target=self._work, name="athena-worker", daemon=True).start()
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartQueryExecution": self.start_query_execution,
            "GetQueryExecution": self.get_query_execution,
            "BatchGetQueryExecution": self.batch_get_query_execution,
            "ListQueryExecutions": self.list_query_executions,
            "StopQueryExecution": self.stop_query_execution,
            "GetQueryResults": self.get_query_results,
            "GetWorkGroup": self.get_work_group, "ListWorkGroups": self.list_work_groups,
            **self.catalog.operations,
        }

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.settings, self.s3, self.settings.emulator_url,
                                  schema=glue_catalog.DATABASE)
        return self._engine

    # -- executions -------------------------------------------------------------------------
    def start_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        sql = str(body.get("QueryString") or "")
        if not sql.strip():
            raise InvalidRequest("QueryString is required")
        if len(sql) > 262_144:
            raise InvalidRequest("QueryString is longer than 262144 characters")
        workgroup = self._workgroup(body.get("WorkGroup"))
        context = body.get("QueryExecutionContext") or {}
        output = str((body.get("ResultConfiguration") or {}).get("OutputLocation")
                     or workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"])
        self._check_output(output)
        ex = Execution(id=str(uuid.uuid4()), query=sql, workgroup=workgroup["Name"],
                       database=str(context.get("Database") or glue_catalog.DATABASE).lower(),
                       catalog=str(context.get("Catalog") or CATALOG), output="",
                       statement_type="DML")
        ex.output = f"{output.rstrip('/')}/{ex.id}.csv"
        try:
            statement = dialect.read(sql)
            ex.statement_type = "DDL" if isinstance(statement, dialect.CatalogQuery) else "DML"
            if ex.database not in DATABASES:
                raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{ex.database}' does not exist "
                                  f"(the lake's database is '{glue_catalog.DATABASE}')")
        except QueryFailed as exc:
            self._finish(ex, FAILED, exc)
            return {"QueryExecutionId": ex.id}
        self.store.save(ex)
        self._queue.put(ex.id)
        return {"QueryExecutionId": ex.id}

    def _check_output(self, output: str) -> None:
        bucket, _ = results.split(output)
        if not output.startswith("s3://") or not bucket:
            raise InvalidRequest(f"OutputLocation must be an s3:// location, not {output!r}")
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception:
            raise InvalidRequest(f"Unable to verify/create output bucket {bucket}: it does "
                                 "not exist or cannot be reached") from None

    def get_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"QueryExecution": self._get(body).as_api()}

    def _get(self, body: dict[str, Any]) -> Execution:
        execution_id = body.get("QueryExecutionId")
        if not execution_id:
            raise InvalidRequest("QueryExecutionId is required")
        return self.store.get(str(execution_id))

    def batch_get_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for execution_id in body.get("QueryExecutionIds") or []:
            try:
                found.append(self.store.get(execution_id).as_api())
            except InvalidRequest as exc:
                missing.append({"QueryExecutionId": execution_id, "ErrorCode":
                                "InvalidRequestException", "ErrorMessage": str(exc)})
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def list_query_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        workgroup = self._workgroup(body.get("WorkGroup"))["Name"]
        token = body.get("NextToken")
        ids, more = self.store.ids(workgroup, paging.offset(token) if token else None,
                                   paging.limit(body, 50, 50))
        return {"QueryExecutionIds": ids} | ({"NextToken": paging.token(more)} if more else {})

    def stop_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._get(body)
        if ex.state not in DONE:
            self._cancel.add(ex.id)
            if self._running == ex.id and self._engine is not None:
                self._engine.stop()
        return {}

    def get_query_results(self, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._get(body)
        if ex.state != SUCCEEDED:
            raise InvalidRequest(
                f"Query has not yet finished. Current state: {ex.state}" if ex.state not in DONE
                else f"Query did not finish successfully. Final query state: {ex.state}"
                     f"{chr(10) + ex.reason if ex.reason else ''}")
        limit = paging.limit(body, 1000, 1000)
        offset = paging.offset(body.get("NextToken"))
        header = ex.statement_type == "DML" and bool(ex.columns) and not ex.query.lstrip()[
            :6].upper().startswith("UNLOAD")
        # The header is row 0 of a DML result's first page, as Athena gives it.
        rows: list[list[str | None]] = []
        if header and offset == 0:
            rows.append([c["Name"] for c in ex.columns])
        start = max(0, offset - 1) if header else offset
        take = limit - len(rows)
        local = self._local(ex.id)
        if local.exists():
            rows += results.page(local, start, take)
        total = ex.rows + (1 if header else 0)
        out: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": [{"Data": [{} if v is None else {"VarCharValue": v}
                                             for v in r]} for r in rows],
                          "ResultSetMetadata": {"ColumnInfo": ex.columns}}}
        if offset + len(rows) < total:
            out["NextToken"] = paging.token(offset + len(rows))
        return out

    def _local(self, execution_id: str) -> Path:
        return self.state / "results" / f"{execution_id}.arrow"

    # -- running ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            execution_id = self._queue.get()
            ex = self.store.get(execution_id)
            if ex.state != QUEUED:
                continue
            if ex.id in self._cancel:
                self._finish(ex, CANCELLED, None)
                continue
            ex.state, ex.started, self._running = RUNNING, time.time(), ex.id
            self.store.save(ex)
            try:
                self._run(ex)
                self._finish(ex, SUCCEEDED, None)
            except QueryFailed as exc:
                self._finish(ex, FAILED, exc)
            except QueryError as exc:
                cancelled = ex.id in self._cancel
                self._finish(ex, CANCELLED if cancelled else FAILED, _failure(str(exc)))
            except Exception as exc:  # noqa: BLE001 - any fault fails the query, not the service
                self._finish(ex, FAILED, QueryFailed(
                    f"INTERNAL_ERROR: {type(exc).__name__}: {exc}", category=1, error_type=401))
            finally:
                self._running = None

    def _run(self, ex: Execution) -> None:
        statement = dialect.read(ex.query)

        def stopped() -> bool:
            return ex.id in self._cancel
        if isinstance(statement, dialect.CatalogQuery):
            table = self.catalog.answer(statement)
            written = results.write_select(table.to_reader(), self._local(ex.id), ex.output,
                                           self.s3)
        elif isinstance(statement, dialect.Unload):  # its rows went elsewhere: no result set
            with self.engine.stream(statement.query.sql, stopped=stopped) as reader:
                results.write_unload(reader, statement, self.state / "scratch", ex.id,
                                     ex.output.removesuffix(".csv") + "-manifest.csv", self.s3)
            ex.scanned_bytes = self._scanned(statement.query.sql)
            return
        else:
            with self.engine.stream(statement.sql, stopped=stopped) as reader:
                written = results.write_select(reader, self._local(ex.id), ex.output, self.s3)
            ex.scanned_bytes = self._scanned(statement.sql)
        ex.columns, ex.rows = written.columns, written.rows

    def _scanned(self, sql: str) -> int:
        """The bytes of the lake files of the tables a query names: what a scan reads without
        pruning (DuckDB does not count what it skipped)."""
        names = named(sql) or set()
        return sum(int(sum(v.delta.get_add_actions().column("size_bytes").to_pylist()))
                   for name, v in self.engine.views.views.items()
                   if name in names and v.delta is not None)

    def _finish(self, ex: Execution, state: str, failure: QueryFailed | None) -> None:
        ex.state, ex.completed = state, time.time()
        if state == CANCELLED:
            ex.reason = "Query was cancelled by user"
        elif failure is not None:
            ex.reason = str(failure)
            ex.error = {"ErrorCategory": failure.category, "ErrorType": failure.error_type,
                        "Retryable": failure.category == 1, "ErrorMessage": str(failure)}
        self._cancel.discard(ex.id)
        self.store.save(ex)

    # -- work groups ------------------------------------------------------------------------
    def _workgroup(self, name: Any) -> dict[str, Any]:
        name = str(name or WORKGROUP)
        if name != WORKGROUP:
            raise InvalidRequest(f"WorkGroup {name} is not found.")
        return {"Name": WORKGROUP, "State": "ENABLED", "Description": "The default work group",
                "CreationTime": 0.0,
                "Configuration": {
                    "ResultConfiguration": {"OutputLocation": self.output},
                    "EnforceWorkGroupConfiguration": False,
                    "PublishCloudWatchMetricsEnabled": False,
                    "RequesterPaysEnabled": False,
                    "EngineVersion": {"SelectedEngineVersion": "AUTO",
                                      "EffectiveEngineVersion": "Athena engine version 3"}}}

    def get_work_group(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"WorkGroup": self._workgroup(body.get("WorkGroup"))}

    def list_work_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        wg = self._workgroup(None)
        return {"WorkGroups": [{k: wg[k] for k in ("Name", "State", "Description",
                                                    "CreationTime")}]}


def _failure(message: str) -> QueryFailed:
    for words, name in _REASONS:
        if words in message:
            return QueryFailed(f"{name}: {message}")
    return QueryFailed(f"GENERIC_USER_ERROR: {message}")
