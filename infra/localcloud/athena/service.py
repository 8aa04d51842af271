"""Athena's operations over Tributary's query engine: executions queue, run one at a time
(DuckDB uses both cores for one query), and are kept on disk with their results.

The catalog operations and ``SHOW``/``DESCRIBE`` read the Glue catalog, brought up to date
from the lake first (the same sync the catalog function runs), so a table that just landed
is listed.
"""

from __future__ import annotations

import base64
import fnmatch
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from localcloud.athena import dialect, results
from localcloud.athena.errors import InvalidRequest, MetadataError, QueryFailed
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
from tributary.load.lake import Lake
from tributary.query import glue as glue_catalog
from tributary.query.catalog import prefixes
from tributary.query.engine import Engine, QueryError
from tributary.settings import Settings

CATALOG = "AwsDataCatalog"
WORKGROUP = "primary"
DATABASES = {glue_catalog.DATABASE, "default"}  # "default" is where Athena starts a session
# DuckDB's words for a failure, and Athena's error name for it.
_REASONS = (("Catalog Error: Table", "TABLE_NOT_FOUND"), ("Catalog Error", "SCHEMA_NOT_FOUND"),
            ("Binder Error", "COLUMN_NOT_FOUND"), ("Parser Error", "SYNTAX_ERROR"),
            ("memory limit", "EXCEEDED_MEMORY_LIMIT"), ("timeout", "EXCEEDED_TIME_LIMIT"),
            ("stopped on request", "USER_CANCELLED"))


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("NextToken is not one this service gave out") from None


def _limit(body: dict[str, Any], most: int, default: int) -> int:
    n = int(body.get("MaxResults") or default)
    if not 1 <= n <= most:
        raise InvalidRequest(f"MaxResults must be between 1 and {most} (got {n})")
    return n


class Athena:
    def __init__(self, settings: Settings, state: Path, clients: Callable[[str], Any]) -> None:
        self.settings = settings
        self.state = state
        self.output = settings.athena_output_location.rstrip("/") + "/"
        self.s3, self.glue = clients("s3"), clients("glue")
        self.store = Executions(state / "executions.sqlite")
        self.lake = Lake(settings.lake_bucket, settings.region, settings.emulator_url)
        self._engine: Engine | None = None
        self._queue: queue.Queue[str] = queue.Queue()
        self._running: str | None = None
        self._cancel: set[str] = set()
        self._synced = 0.0
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
            "ListDataCatalogs": self.list_data_catalogs, "GetDataCatalog": self.get_data_catalog,
            "ListDatabases": self.list_databases, "GetDatabase": self.get_database,
            "ListTableMetadata": self.list_table_metadata,
            "GetTableMetadata": self.get_table_metadata,
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
        ids, more = self.store.ids(workgroup, _offset(token) if token else None,
                                   _limit(body, 50, 50))
        return {"QueryExecutionIds": ids} | ({"NextToken": _token(more)} if more else {})

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
        limit = _limit(body, 1000, 1000)
        offset = _offset(body.get("NextToken"))
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
            out["NextToken"] = _token(offset + len(rows))
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
        if isinstance(statement, dialect.CatalogQuery):
            table = self._catalog_answer(statement)
            written = results.write_select(table.to_reader(), self._local(ex.id), ex.output,
                                           self.s3)
        elif isinstance(statement, dialect.Unload):
            with self.engine.stream(statement.query.sql) as reader:
                written = results.write_unload(
                    reader, statement, self.state / "scratch", ex.id,
                    ex.output.removesuffix(".csv") + "-manifest.csv", self.s3)
            ex.scanned_bytes = self._scanned(statement.query.sql)
        else:
            with self.engine.stream(statement.sql) as reader:
                written = results.write_select(reader, self._local(ex.id), ex.output, self.s3)
            ex.scanned_bytes = self._scanned(statement.sql)
        ex.columns, ex.rows = written.columns, written.rows
        if isinstance(statement, dialect.Unload):
            ex.columns, ex.rows = [], 0

    def _scanned(self, sql: str) -> int:
        """The bytes of the lake files of the tables a query names: what a scan reads without
        pruning (DuckDB does not count what it skipped)."""
        views = self.engine.views
        return sum(int(sum(views.delta[name].get_add_actions().column("size_bytes").to_pylist()))
                   for name in views.delta if f'"{name}"' in sql or name in sql.split())

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

    # -- the catalog ------------------------------------------------------------------------
    def _synced_glue(self) -> Any:
        """The Glue client, after bringing the catalog up to date (at most every 5 s)."""
        if time.monotonic() - self._synced > 5:
            glue_catalog.sync(self.glue, self.lake, prefixes(self.s3, self.settings.lake_bucket))
            self._synced = time.monotonic()
        return self.glue

    def _glue_tables(self, database: str) -> list[dict[str, Any]]:
        database = self._database(database)
        glue = self._synced_glue()
        return [t for page in glue.get_paginator("get_tables").paginate(DatabaseName=database)
                for t in page["TableList"]]

    def _glue_table(self, database: str, name: str) -> dict[str, Any]:
        for t in self._glue_tables(database):
            if t["Name"] == name:
                return t
        raise MetadataError(f"Table {name} not found in database {database}")

    def _database(self, name: str | None) -> str:
        name = (name or glue_catalog.DATABASE).lower()
        if name == "default":
            return glue_catalog.DATABASE
        if name != glue_catalog.DATABASE:
            raise MetadataError(f"Database {name} not found (the lake's database is "
                                f"{glue_catalog.DATABASE})")
        return name

    def _catalog_answer(self, q: dialect.CatalogQuery) -> pa.Table:
        try:
            if q.what == "databases":
                return pa.table({"database_name": [glue_catalog.DATABASE]})
            if q.what == "tables":
                names = sorted(t["Name"] for t in self._glue_tables(q.name or "tributary"))
                if q.like:  # Athena's pattern: * for any characters, | between choices
                    names = [n for n in names
                             if any(fnmatch.fnmatch(n, p) for p in q.like.split("|"))]
                return pa.table({"tab_name": names}, pa.schema([("tab_name", pa.string())]))
            database, _, name = (q.name or "").rpartition(".")
            t = self._glue_table(database or glue_catalog.DATABASE, name)
        except MetadataError as exc:
            raise QueryFailed(f"TABLE_NOT_FOUND: {exc}") from None
        cols = _columns(t)
        if q.what == "columns":
            return pa.table({"field": [c["Name"] for c in cols]})
        return pa.table({"col_name": [c["Name"] for c in cols],
                         "data_type": [c["Type"] for c in cols],
                         "comment": ["partition key" if c in t.get("PartitionKeys", []) else ""
                                     for c in cols]})

    def list_data_catalogs(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"DataCatalogsSummary": [{"CatalogName": CATALOG, "Type": "GLUE"}]}

    def get_data_catalog(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        return {"DataCatalog": {"Name": CATALOG, "Type": "GLUE", "Description":
                                "The Glue Data Catalog of Tributary's lake",
                                "Parameters": {"catalog-id": "000000000000"}}}

    def _catalog_name(self, body: dict[str, Any]) -> None:
        name = str(body.get("CatalogName") or body.get("Name") or CATALOG)
        if name.lower() != CATALOG.lower():
            raise MetadataError(f"Catalog {name} not found (this account has {CATALOG})")

    def list_databases(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        self._synced_glue()
        return {"DatabaseList": [{"Name": glue_catalog.DATABASE,
                                  "Description": "Tributary's lake (Delta tables)"}]}

    def get_database(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        return {"Database": {"Name": self._database(body.get("DatabaseName")),
                             "Description": "Tributary's lake (Delta tables)"}}

    def list_table_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        tables = self._glue_tables(str(body.get("DatabaseName") or ""))
        if body.get("Expression"):
            tables = [t for t in tables if fnmatch.fnmatch(t["Name"], str(body["Expression"]))]
        offset, limit = _offset(body.get("NextToken")), _limit(body, 50, 50)
        out: dict[str, Any] = {"TableMetadataList": [_metadata(t) for t in
                                                     tables[offset:offset + limit]]}
        if offset + limit < len(tables):
            out["NextToken"] = _token(offset + limit)
        return out

    def get_table_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        return {"TableMetadata": _metadata(self._glue_table(
            str(body.get("DatabaseName") or ""), str(body.get("TableName") or "")))}

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


def _columns(t: dict[str, Any]) -> list[dict[str, Any]]:
    return [*t.get("StorageDescriptor", {}).get("Columns", []), *t.get("PartitionKeys", [])]


def _metadata(t: dict[str, Any]) -> dict[str, Any]:
    created = t.get("CreateTime")
    return {"Name": t["Name"], "CreateTime": created.timestamp() if created else 0.0,
            "TableType": t.get("TableType", "EXTERNAL_TABLE"),
            "Columns": [{"Name": c["Name"], "Type": c["Type"]}
                        for c in t.get("StorageDescriptor", {}).get("Columns", [])],
            "PartitionKeys": [{"Name": c["Name"], "Type": c["Type"]}
                              for c in t.get("PartitionKeys", [])],
            "Parameters": {**t.get("Parameters", {}),
                           "location": t.get("StorageDescriptor", {}).get("Location", "")}}
