"""Compaction: rewrite a Delta table's small files into files of a target size.

One ``OPTIMIZE`` commit removes the small files and adds the large ones, so readers (which
take their file list from one commit) see either set, never both; writers appending at the
same time do not conflict with it. The old files stay until a vacuum, so a query that
started before the commit can finish reading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tributary.load.lake import Lake


class CompactError(ValueError):
    """The table cannot be compacted as asked; the message says why."""


@dataclass(frozen=True)
class Compacted:
    table: str
    partitions: dict[str, str]
    files_before: int
    files_after: int
    rows_before: int
    rows_after: int
    version: int
    metrics: dict[str, Any]


def compact(lake: Lake, name: str, partitions: dict[str, str] | None = None,
            target_bytes: int = 128 * 2**20) -> Compacted:
    table = lake.open(name)
    if table is None:
        raise CompactError(f"no Delta table {name!r} in the lake")
    filters = [(k, "=", v) for k, v in (partitions or {}).items()] or None
    known = set(table.metadata().partition_columns)
    unknown = set(partitions or {}) - known
    if unknown:
        raise CompactError(f"{name} is partitioned by {sorted(known) or 'nothing'}; "
                           f"not by {sorted(unknown)}")
    files_before = len(table.file_uris(filters))
    rows_before = lake.rows(table, partitions)
    metrics = table.optimize.compact(partition_filters=filters, target_size=target_bytes)
    table.update_incremental()
    files_after = len(table.file_uris(filters))
    rows_after = lake.rows(table, partitions)
    if rows_after != rows_before:  # cannot happen with a correct OPTIMIZE; never let it pass
        raise CompactError(f"{name}: {rows_before} rows before compaction, {rows_after} after")
    return Compacted(name, dict(partitions or {}), files_before, files_after, rows_before,
                     rows_after, table.version(), dict(metrics))
