"""Which rows of a loaded page go to the lake."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from tributary.load.tables import table_for
from tributary.transform import _changed_rows

AT = datetime(2026, 11, 30, tzinfo=UTC)


def _page(ids: list[str]) -> pa.Table:
    table = table_for("hallow", "content")
    rows = {c.name: [None] * len(ids) for c in table.columns}
    rows[table.key] = ids
    rows["prayer_type"] = ["rosary"] * len(ids)
    return pa.table(rows, schema=table.arrow_schema)


def test_only_the_changed_rows_with_when_they_were_loaded() -> None:
    rows = _changed_rows(_page(["a", "b", "c"]), table_for("hallow", "content"), ["c", "a"], AT)
    assert rows is not None
    assert rows["content_id"].to_pylist() == ["a", "c"]
    assert rows["_ingested_at"].to_pylist() == [AT, AT]


def test_a_first_load_keeps_every_row() -> None:
    rows = _changed_rows(_page(["a", "b"]), table_for("hallow", "content"), ["b", "a"], AT)
    assert rows is not None and rows.num_rows == 2


def test_an_id_twice_in_a_page_is_read_back_from_postgres() -> None:
    """PostgreSQL kept one copy of ``a``: which one is its choice, so the lake asks it."""
    assert _changed_rows(_page(["a", "b", "a"]), table_for("hallow", "content"), ["a", "b"],
                         AT) is None
