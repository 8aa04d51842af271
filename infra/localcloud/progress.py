"""The live progress display and the closing summary of ``tributary ingest --wait``."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from localcloud.ingest import Verdict
from tributary.control.progress import Progress, StreamProgress


def _figures(s: StreamProgress, elapsed: float | None,
             before: dict[str, int] | None = None) -> dict[str, str]:
    """One stream's progress, formatted: the same figures on a terminal and in a log. The
    rate is this run's: records transformed since it began (``before``: each stream's count
    then), over its time."""
    rate = max(0, s.transformed - (before or {}).get(s.stream, 0)) / elapsed if elapsed else 0.0
    left = max(0, s.upstream_total - s.transformed) if s.upstream_known else 0
    if s.paused:
        eta = "paused"
    elif s.failure:
        eta = "FAILED" if s.failure.final else "retrying"
    elif s.done:
        eta = "done"
    else:
        eta = f"{left / rate:.0f}s" if rate > 0 and left else "-"
    return {"upstream": f"{s.upstream_total:,}" if s.upstream_known else "not said",
            "fetched": f"{s.fetched:,}",
            "transformed": f"{s.transformed:,}",
            "rejected": f"{s.rejected:,}" + (f" ({s.rejects.share:.1%})" if s.rejected else ""),
            "partitions": f"{s.partitions_done}/{s.partitions}",
            "records/s": f"{rate:,.0f}" if elapsed else "-", "ETA": eta}


def progress_table(prog: Progress, elapsed: float | None,
                   before: dict[str, int] | None = None) -> Table:
    t = Table("stream", "upstream", "fetched", "transformed", "rejected", "partitions",
              "records/s", "ETA", title="ingestion")
    for s in prog.streams.values():
        f = _figures(s, elapsed, before)
        if s.rejects.too_high:
            f["rejected"] = f"[red]{f['rejected']}[/]"
        if s.failure:
            f["ETA"] = f"[red]{f['ETA']}[/]"
        t.add_row(s.stream, *f.values())
    t.caption = "\n".join([*(escape(line) for line in _failures(prog)), _queue(prog)])
    return _names_whole(t, [s.stream for s in prog.streams.values()])


def _names_whole(t: Table, names: list[str]) -> Table:
    """Stream names are never cut short: the other columns give way first."""
    t.columns[0].no_wrap = True
    t.columns[0].min_width = max((len(n) for n in names), default=6)
    return t


def progress_lines(prog: Progress, elapsed: float,
                   before: dict[str, int] | None = None) -> list[str]:
    """Plain lines for a log or a pipe: one per stream, stamped with the UTC time."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [f"{stamp} {s.stream} " + " ".join(f"{k} {v}" for k, v in
                                               _figures(s, elapsed, before).items())
             for s in prog.streams.values()]
    return [*lines, *(f"{stamp} {line}" for line in _failures(prog)), f"{stamp} {_queue(prog)}"]


def _failures(prog: Progress) -> list[str]:
    """A line per failing stream: what went wrong, since when, how often."""
    return [f"{s.stream} {'FAILED' if s.failure.final else 'failing'} since "
            f"{time.strftime('%H:%M:%S', time.gmtime(s.failure.since))} UTC after "
            f"{s.failure.attempts} attempt{'s' if s.failure.attempts != 1 else ''}: "
            f"{s.failure.error}" for s in prog.streams.values() if s.failure]


def _queue(prog: Progress) -> str:
    return (f"queue: {prog.queue_visible} waiting, {prog.queue_in_flight} in flight, "
            f"{prog.dlq} dead-lettered")


class Display:
    """A live table on a terminal; elsewhere (a pipe, a log file, CI) a plain line per stream
    every ``every_s`` seconds, since a live table there shows nothing until the end."""

    def __init__(self, console: Console, started: float, every_s: float = 5.0,
                 before: dict[str, int] | None = None) -> None:
        self.console = console
        self.started = started
        self.before = before or {}  # each stream's transformed count as this run began
        self.every_s = every_s
        self.live = Live(console=console, refresh_per_second=4, transient=False) \
            if console.is_terminal else None
        self.printed_at = float("-inf")
        self.pending: Progress | None = None  # the latest figures not printed yet

    def __enter__(self) -> Display:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live:
            self.live.__exit__(*exc)
        elif self.pending is not None:
            self._print(self.pending)

    def update(self, prog: Progress) -> None:
        if self.live:
            self.live.update(progress_table(prog, time.perf_counter() - self.started,
                                            self.before))
        elif time.monotonic() - self.printed_at >= self.every_s:
            self._print(prog)
        else:
            self.pending = prog

    def _print(self, prog: Progress) -> None:
        for line in progress_lines(prog, time.perf_counter() - self.started, self.before):
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.printed_at, self.pending = time.monotonic(), None

    def summary(self, verdicts: list[Verdict], wall: float, loaded: int) -> None:
        t = Table("stream", "upstream", "postgres", "lake", "duplicates", "rejects", "missing",
                  "result", title="summary")
        for v in verdicts:
            colour = "green" if v.ok else "red"
            t.add_row(v.stream, f"{v.upstream_total:,}" if v.upstream_known else "not said",
                      f"{v.postgres_rows:,}",
                      f"{v.lake_rows:,}", f"[{colour}]{v.lake_duplicates}[/]",
                      _rejects_cell(v), f"[{colour}]{v.missing}[/]", _result(v))
        t.caption = (f"wall time {wall:.1f}s; {loaded:,} records fetched and loaded this run "
                     f"({loaded / wall:,.0f}/s end to end)")
        self.console.print(_names_whole(t, [v.stream for v in verdicts]))
        for v in verdicts:
            if v.error:
                self.console.print(f"[bold]{v.stream}[/] [red]failed[/]: {escape(v.error)}\n"
                                   f"  after a fix: tributary ingest --source "
                                   f"{v.stream.split('/')[0]} --wait   (the fetch's log: "
                                   ".tributary/logs/functions/tributary-fetch.log)")
            if v.rejected_records:
                self.console.print(reasons_text(v))


def _rejects_cell(v: Verdict) -> str:
    if not v.rejected_records:
        return "0"
    text = f"{v.rejected_records:,} ({v.rejects.share:.1%})"
    return f"[red]{text}[/]" if v.rejects.too_high else f"[yellow]{text}[/]"


def _result(v: Verdict) -> str:
    if v.error:
        return "[red]FAILED (below)[/]"
    if v.rejects.too_high:
        return f"[red]FAILED: rejects above {v.reject_threshold:.1%}[/]"
    return "[green]OK[/]" if v.ok else "[red]FAILED[/]"


def reasons_text(v: Verdict) -> str:
    """Why a stream rejected records, and where to look."""
    lines = [f"[bold]{v.stream}[/]: {v.rejected_records:,} of {v.records_read:,} records "
             f"rejected ({v.rejects.share:.2%}; threshold {v.reject_threshold:.1%}). Top reasons:"]
    lines += [f"  {r.records:>9,}  {escape(r.problem)}   e.g. raw page {escape(r.example_key)}"
              for r in v.reasons]
    lines.append(f"  list them: tributary rejects --stream {v.stream}   (table: rejects)")
    lines.append(f"  after a fix: tributary replay --rejects --source {v.stream.split('/')[0]}")
    return "\n".join(lines)
