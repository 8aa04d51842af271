"""The Glue Data Catalog describes the lake, so Athena (and anything that reads Glue) finds it.

Database ``tributary``; one table per Delta table of the lake bucket: its columns and
partition keys in Glue's types, its location, and ``table_type=DELTA`` (Athena then reads the
Delta log itself, not the folder's files). ``sync`` brings the catalog up to date and is
idempotent: the catalog function runs it every five minutes (and on demand: `tributary invoke
tributary-catalog`), so a table that appears, changes its columns or goes away is reflected
within five minutes, and a catalog lost with the emulator's state is derived again from the
lake.
"""

from __future__ import annotations

from typing import Any

from deltalake import DeltaTable

from tributary.clients import aws_client
from tributary.load.lake import Lake, prefixes
from tributary.settings import get_settings

DATABASE = "tributary"
# Delta's primitive type names where Glue (Hive) names them otherwise.
_GLUE_TYPES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint",
               "timestamp_ntz": "timestamp"}
_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary":
                  "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


def glue_type(delta_type: Any) -> str:
    name = str(getattr(delta_type, "type", delta_type))
    return _GLUE_TYPES.get(name, name)


def table_input(name: str, location: str, table: DeltaTable) -> dict[str, Any]:
    """What Glue is told of one Delta table."""
    partitions = list(table.metadata().partition_columns)
    fields = table.schema().fields
    columns = [{"Name": f.name, "Type": glue_type(f.type)} for f in fields
               if f.name not in partitions]
    keys = [{"Name": f.name, "Type": glue_type(f.type)} for f in fields if f.name in partitions]
    return {"Name": name, "TableType": "EXTERNAL_TABLE",
            "Parameters": {"table_type": "DELTA", "classification": "parquet",
                           "EXTERNAL": "TRUE"},
            "PartitionKeys": keys,
            "StorageDescriptor": {"Columns": columns, "Location": location, **_PARQUET}}


def sync(glue: Any, lake: Lake, names: list[str]) -> dict[str, list[str]]:
    """Create, update or delete catalog tables so they match the lake's ``names``."""
    try:
        glue.get_database(Name=DATABASE)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={
            "Name": DATABASE, "Description": "Tributary's lake (Delta tables)"})
    existing = {t["Name"]: t for page in glue.get_paginator("get_tables").paginate(
        DatabaseName=DATABASE) for t in page["TableList"]}
    done: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "deleted": []}
    for name in names:
        table = lake.open(name)
        if table is None:
            continue  # a folder that is no Delta table (a dbt mart's plain Parquet)
        wanted = table_input(name, f"{lake.uri(name)}/", table)
        if name not in existing:
            glue.create_table(DatabaseName=DATABASE, TableInput=wanted)
            done["created"].append(name)
        elif _differs(existing[name], wanted):
            glue.update_table(DatabaseName=DATABASE, TableInput=wanted)
            done["updated"].append(name)
        else:
            done["unchanged"].append(name)
    for name in sorted(set(existing) - set(names)):
        glue.delete_table(DatabaseName=DATABASE, Name=name)
        done["deleted"].append(name)
    return done


def _differs(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    have = found.get("StorageDescriptor") or {}
    want = wanted["StorageDescriptor"]
    return bool(have.get("Columns") != want["Columns"]
                or have.get("Location") != want["Location"]
                or (found.get("PartitionKeys") or []) != wanted["PartitionKeys"]
                or (found.get("Parameters") or {}) != wanted["Parameters"])


def handler(event: dict[str, Any], context: Any) -> dict[str, list[str]]:
    """The catalog function (every five minutes, and by hand)."""
    lake = Lake.from_env()
    return sync(aws_client("glue"), lake, prefixes(aws_client("s3"), get_settings().lake_bucket))
