"""Rebuild what the lake is missing, from PostgreSQL (the durable copy).

Each loaded page names the lake tables it went into in ``load_log``; an append carries the
page as its Delta transaction id. A page whose append a table does not have (the embedded
emulator keeps S3 in memory, so a restart empties the lake) is appended again from the rows
it last changed, exactly as after a crash between commit and lake write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from deltalake import DeltaTable

from tributary.load import lake as lakes
from tributary.load.tables import table_for


def relake(conn: psycopg.Connection[Any], lake: lakes.Lake,
           on_page: Callable[[int, int], None] | None = None) -> int:
    """Append every page the lake lacks; returns how many pages."""
    if conn.execute("SELECT to_regclass('load_log')").fetchone() == (None,):
        return 0
    pages = conn.execute("SELECT raw_key, source, stream, lake_keys FROM load_log "
                         "WHERE lake_done AND cardinality(lake_keys) > 0 ORDER BY raw_key"
                         ).fetchall()
    conn.commit()
    opened: dict[str, DeltaTable | None] = {}
    rebuilt = 0
    for n, (key, source, stream, tables) in enumerate(pages, 1):
        for name in tables:
            if name not in opened:
                opened[name] = lake.open(name)
        first = opened[tables[0]]  # written first: if it has the page, the page is there
        if first is not None and first.transaction_version(key) is not None:
            continue
        lakes.write_page(lake, conn, table_for(source, stream), key)
        rebuilt += 1
        if on_page:
            on_page(n, len(pages))
    return rebuilt
