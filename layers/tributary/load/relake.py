"""Rebuild lake files that are missing, from PostgreSQL (the durable copy).

Each loaded page's lake files are named in ``load_log``; a page whose files are gone (the
embedded emulator keeps S3 in memory, so a restart empties the lake) is rewritten from the
rows it last changed, exactly as after a crash between commit and lake write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from tributary.load import lake
from tributary.load.tables import table_for


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def relake(conn: psycopg.Connection[Any], s3: Any, bucket: str,
           on_page: Callable[[int, int], None] | None = None) -> int:
    """Rewrite every page's lake files that are missing; returns how many pages."""
    if conn.execute("SELECT to_regclass('load_log')").fetchone() == (None,):
        return 0
    pages = conn.execute("SELECT raw_key, source, stream, lake_keys FROM load_log "
                         "WHERE lake_done AND cardinality(lake_keys) > 0 ORDER BY raw_key"
                         ).fetchall()
    rebuilt = 0
    for n, (key, source, stream, keys) in enumerate(pages, 1):
        if all(_exists(s3, bucket, k) for k in keys):
            continue
        table = table_for(source, stream)
        written = lake.write_page(s3, bucket, conn, table, key)
        conn.execute("UPDATE load_log SET lake_keys = %s WHERE raw_key = %s", (written, key))
        conn.commit()
        rebuilt += 1
        if on_page:
            on_page(n, len(pages))
    return rebuilt
