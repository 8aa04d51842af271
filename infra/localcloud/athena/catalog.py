"""Athena's catalog operations, and ``SHOW``/``DESCRIBE``, answered from the Glue catalog.

The catalog is brought up to date from the lake before it answers (the same sync the catalog
function runs every five minutes, here at most every 5 s), so a table that just landed is
listed.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from localcloud.athena import dialect, paging
from localcloud.athena.errors import MetadataError, QueryFailed
from tributary.load.lake import Lake, prefixes
from tributary.query import glue as glue_catalog
from tributary.settings import Settings

CATALOG = "AwsDataCatalog"


class Catalog:
    def __init__(self, settings: Settings, s3: Any, glue: Any) -> None:
        self.settings, self.s3, self.glue = settings, s3, glue
        self.lake = Lake.of(settings, settings.emulator_url)
        self._synced = 0.0
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ListDataCatalogs": self.list_data_catalogs, "GetDataCatalog": self.get_data_catalog,
            "ListDatabases": self.list_databases, "GetDatabase": self.get_database,
            "ListTableMetadata": self.list_table_metadata,
            "GetTableMetadata": self.get_table_metadata,
        }

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

    def answer(self, q: dialect.CatalogQuery) -> pa.Table:
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
        offset, limit = paging.offset(body.get("NextToken")), paging.limit(body, 50, 50)
        out: dict[str, Any] = {"TableMetadataList": [_metadata(t) for t in
                                                     tables[offset:offset + limit]]}
        if offset + limit < len(tables):
            out["NextToken"] = paging.token(offset + limit)
        return out

    def get_table_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalog_name(body)
        return {"TableMetadata": _metadata(self._glue_table(
            str(body.get("DatabaseName") or ""), str(body.get("TableName") or "")))}


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
