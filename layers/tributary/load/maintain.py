"""Lake upkeep on a schedule, so a table that has taken commits for hours reads as fast as a
new one: its log and its files stay bounded however long the stack runs.

For each Delta table of the lake, in this order:
1. its retention properties brought to the setting (tables made before it: once);
2. compaction, once a partition has ``lake_compact_files`` small files (one OPTIMIZE commit;
   readers see the old files or the new, never both);
3. vacuum of the files commits removed more than the retention ago (a query that started
   before the commit finishes reading them first); full, so files a writer left behind when
   it lost a commit race go too;
4. a checkpoint at the latest version, then the log entries older than the retention and
   before a checkpoint are removed. A checkpoint keeps every page's transaction id, so
   appending a page again still adds nothing.
A table with nothing to do costs a few reads and no commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError
from deltalake import DeltaTable

from tributary.load.compact import compact
from tributary.load.lake import Lake, prefixes
from tributary.log import get_logger
from tributary.settings import get_settings

log = get_logger("load.maintain")
SMALL_BYTES = 64 * 2**20  # half compaction's target size: a file below it is worth merging


@dataclass(frozen=True)
class Upkeep:
    table: str
    version: int = -1
    files_before: int = 0
    files_after: int = 0
    vacuumed: int = 0
    checkpointed: bool = False
    error: str | None = None


def crowded(table: DeltaTable, small_files: int) -> bool:
    """Whether one partition has ``small_files`` files below ``SMALL_BYTES``."""
    actions = pa.table(table.get_add_actions(flatten=True))
    keys = [c for c in actions.column_names if c.startswith("partition.")]
    small = actions.filter(pc.less(actions["size_bytes"], SMALL_BYTES))
    per_partition = Counter(zip(*(small[k].to_pylist() for k in keys), strict=True)) if keys \
        else Counter({(): small.num_rows})
    return max(per_partition.values(), default=0) >= small_files


def maintain_table(lake: Lake, name: str, small_files: int) -> Upkeep:
    table = lake.open(name)
    if table is None:
        return Upkeep(name, error="no Delta table")
    wanted = {k: v for k, v in lake.config.items() if k != "delta.checkpointInterval"}
    if any(table.metadata().configuration.get(k) != v for k, v in wanted.items()):
        table.alter.set_table_properties({k: str(v) for k, v in wanted.items()})
    before = len(table.file_uris())
    if crowded(table, small_files):
        compact(lake, name)
    vacuumed = table.vacuum(dry_run=False, full=True)
    checkpointed = _checkpointed(lake, name) < table.version()
    if checkpointed:
        table.create_checkpoint()
    table.cleanup_metadata()
    return Upkeep(name, table.version(), before, len(table.file_uris()), len(vacuumed),
                  checkpointed)


def maintain(lake: Lake, names: list[str], small_files: int) -> list[Upkeep]:
    """Every table in turn; one that fails (a commit race with a writer) is reported and
    tried again at the next run, the others still done."""
    done: list[Upkeep] = []
    for name in names:
        try:
            upkeep = maintain_table(lake, name, small_files)
        except Exception as exc:  # noqa: BLE001 - the next run tries again
            upkeep = Upkeep(name, error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        if upkeep.error != "no Delta table":
            done.append(upkeep)
            log.info("table maintained", extra=asdict(upkeep))
    return done


def _checkpointed(lake: Lake, name: str) -> int:
    """The version of the table's latest checkpoint (-1: none)."""
    try:
        body = lake.s3_client().get_object(
            Bucket=lake.bucket, Key=f"{name}/_delta_log/_last_checkpoint")["Body"].read()
    except ClientError:
        return -1
    return int(orjson.loads(body)["version"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The maintenance function (on its schedule, and by hand)."""
    lake = Lake.from_env()
    names = prefixes(lake.s3_client(), lake.bucket)
    done = maintain(lake, names, get_settings().lake_compact_files)
    return {"tables": [asdict(u) for u in done]}
