"""The live progress display and the closing summary of ``tributary ingest --wait``."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from localcloud.ingest import Progress, Verdict


def progress_table(prog: Progress, elapsed: float | None) -> Table:
    t = Table("stream", "upstream", "fetched", "transformed", "rejected", "partitions",
              "records/s", "ETA", title="ingestion")
    for s in prog.streams.values():
        rate = s.transformed / elapsed if elapsed else 0.0
        left = max(0, s.upstream_total - s.transformed)
        eta = "paused" if s.paused else f"{left / rate:.0f}s" if rate > 0 and left else (
            "done" if not left else "-")
        rejected = f"{s.rejected:,}" + (f" ({s.reject_share:.1%})" if s.rejected else "")
        t.add_row(s.stream, f"{s.upstream_total:,}", f"{s.fetched:,}", f"{s.transformed:,}",
                  f"[red]{rejected}[/]" if s.failed else rejected,
                  f"{s.partitions_done}/{s.partitions}",
                  f"{rate:,.0f}" if elapsed else "-", eta)
    t.caption = (f"queue: {prog.queue_visible} waiting, {prog.queue_in_flight} in flight, "
                 f"{prog.dlq} dead-lettered")
    return t


class Display:
    def __init__(self, console: Console, started: float) -> None:
        self.console = console
        self.started = started
        self.live = Live(console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> Display:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, prog: Progress) -> None:
        self.live.update(progress_table(prog, time.perf_counter() - self.started))

    def summary(self, verdicts: list[Verdict], wall: float, loaded: int) -> None:
        t = Table("stream", "upstream", "postgres", "lake", "duplicates", "rejects", "missing",
                  "result", title="summary")
        for v in verdicts:
            colour = "green" if v.ok else "red"
            t.add_row(v.stream, f"{v.upstream_total:,}", f"{v.postgres_rows:,}",
                      f"{v.lake_rows:,}", f"[{colour}]{v.lake_duplicates}[/]",
                      _rejects_cell(v), f"[{colour}]{v.missing}[/]", _result(v))
        t.caption = (f"wall time {wall:.1f}s; {loaded:,} records fetched and loaded this run "
                     f"({loaded / wall:,.0f}/s end to end)")
        self.console.print(t)
        for v in verdicts:
            if v.rejected_records:
                self.console.print(reasons_text(v))


def _rejects_cell(v: Verdict) -> str:
    if not v.rejected_records:
        return "0"
    text = f"{v.rejected_records:,} ({v.reject_share:.1%})"
    return f"[red]{text}[/]" if v.too_many_rejects else f"[yellow]{text}[/]"


def _result(v: Verdict) -> str:
    if v.too_many_rejects:
        return f"[red]FAILED: rejects above {v.reject_threshold:.1%}[/]"
    return "[green]OK[/]" if v.ok else "[red]FAILED[/]"


def reasons_text(v: Verdict) -> str:
    """Why a stream rejected records, and where to look."""
    lines = [f"[bold]{v.stream}[/]: {v.rejected_records:,} of {v.records_read:,} records "
             f"rejected ({v.reject_share:.2%}; threshold {v.reject_threshold:.1%}). Top reasons:"]
    lines += [f"  {r.records:>9,}  {escape(r.problem)}   e.g. raw page {escape(r.example_key)}"
              for r in v.reasons]
    lines.append(f"  list them: tributary rejects --stream {v.stream}   (table: rejects)")
    lines.append(f"  after a fix: tributary replay --rejects --source {v.stream.split('/')[0]}")
    return "\n".join(lines)
