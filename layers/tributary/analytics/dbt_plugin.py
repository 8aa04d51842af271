"""A dbt-duckdb plugin: every dbt connection sees the lake's tables (schema ``lake``) and
PostgreSQL (catalog ``pg``), set up the way the query engine sets up its own.

The profile names it (``plugins: [{module: tributary.analytics.dbt_plugin}]``). With
``embedded: true`` (the default) it reads the embedded stack the settings point at; with
``false`` it uses ``AWS_ENDPOINT_URL`` if set, else AWS itself.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from tributary.query.catalog import LakeViews, attach, quote
from tributary.settings import Settings

LAKE_SCHEMA = "lake"


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.embedded = bool(plugin_config.get("embedded", True))

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        settings = Settings()  # read now: dbt may run several profiles in one process
        endpoint = (settings.emulator_url if self.embedded
                    else os.environ.get("AWS_ENDPOINT_URL"))
        attach(conn, settings, endpoint)
        self.lake_root = f"s3://{settings.lake_bucket}"
        # Rebuilt each time: the file outlives the stack, and a view of a table that is gone
        # should say "does not exist", not fail reading files that are gone.
        conn.execute(f"DROP SCHEMA IF EXISTS {LAKE_SCHEMA} CASCADE")
        LakeViews(conn, settings, endpoint, schema=LAKE_SCHEMA).refresh(force=True)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        # Where models are written (macros/export_to_lake.sql); variables are per cursor.
        cursor.execute(f"SET VARIABLE tributary_lake = {quote(self.lake_root)}")
