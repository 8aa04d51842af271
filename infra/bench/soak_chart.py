"""A soak run's end table and chart (soak.py), from its CSVs alone: so a run that was killed,
or one still going, can be read too.

    .venv/bin/python infra/bench/soak_chart.py /tmp/tributary-soak-XXXX   # table + soak.png

The chart needs matplotlib: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

Rows = list[dict[str, str]]
TABLE_FIELDS = ("version", "log", "live", "parquet")


def _read(path: Path) -> Rows:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(v: str | None) -> float:
    return float(v) if v else float("nan")


def _fig(v: float | str) -> str:
    n = _num(v) if isinstance(v, str) else v
    return "-" if n != n else f"{n:.0f}"  # n != n: NaN, nothing measured


def _phases(rows: Rows) -> dict[str, Rows]:
    out: dict[str, Rows] = defaultdict(list)
    for r in rows:
        out[r["phase"]].append(r)
    return out


def report(out: Path) -> None:
    """Per phase: first, median and last of each latency, CPU and the emulator's calls; each
    process's median CPU and first and last RSS; each table's first and last figures."""
    tables = _phases(_read(out / "tables.csv"))
    for phase, rows in _phases(_read(out / "samples.csv")).items():
        print(f"\n== {phase}: {len(rows)} samples, t = {rows[0]['t_s']}..{rows[-1]['t_s']} s")
        print(f"{'':24s} {'first':>9s} {'median':>9s} {'last':>9s}")
        for col in [c for c in rows[0] if c.endswith("_ms")] + ["cpu_stack", "calls"]:
            got = [_num(r[col]) for r in rows if r[col] != ""]
            if not got:
                continue  # a server time the probe does not have
            med = statistics.median(got)
            print(f"{col:24s} {_fig(rows[0][col]):>9s} {_fig(med):>9s} {_fig(rows[-1][col]):>9s}")
        print(f"{'process':24s} {'CPU% med':>9s} {'RSS MB 1st':>11s} {'RSS MB last':>11s}")
        for name in (c.removeprefix("rss_") for c in rows[0] if c.startswith("rss_")):
            cpu = statistics.median(_num(r.get(f"cpu_{name}")) for r in rows)
            print(f"{name:24s} {cpu:9.1f} {_fig(rows[0]['rss_' + name]):>11s} "
                  f"{_fig(rows[-1]['rss_' + name]):>11s}")
        print(f"{'table':24s} " + " ".join(f"{f + ' 1st/last':>17s}" for f in TABLE_FIELDS))
        by_table: dict[str, Rows] = defaultdict(list)
        for t in tables.get(phase, []):
            by_table[t["table"]].append(t)
        for name, mine in sorted(by_table.items()):
            print(f"{name:24s} " + " ".join(f"{mine[0][f] + '/' + mine[-1][f]:>17s}"
                                            for f in TABLE_FIELDS))
        errors = [r for r in rows if r["errors"]]
        if errors:
            print(f"{len(errors)} samples with errors; the first: {errors[0]['errors']}")


def _series(ax: Any, rows: Rows, cols: list[str], label: str) -> None:
    t = [_num(r["t_s"]) / 60 for r in rows]
    for col in cols:
        ax.plot(t, [_num(r[col]) for r in rows], label=col.removesuffix("_ms"), lw=1)
    ax.set_ylabel(label)


def chart(out: Path) -> Path:
    """Latencies, CPU, RSS, and each table's log length and files over time; quiet shaded."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    rows = _read(out / "samples.csv")
    cols = list(rows[0]) if rows else []
    fig, axes = plt.subplots(5, 1, figsize=(14, 17), sharex=True)
    for ax in axes:
        ax.set_prop_cycle(color=[plt.get_cmap("tab20")(i) for i in range(20)])  # 19 tables
    _series(axes[0], rows, [c for c in cols if c.endswith("_ms") and "_srv_" not in c],
            "latency ms (wall)")
    axes[0].set_yscale("log")
    _series(axes[1], rows, [c for c in cols if c.startswith("cpu_")], "CPU % of one core")
    _series(axes[2], rows, [c for c in cols if c.startswith("rss_") and c != "rss_stack"],
            "RSS MB")
    by_table: dict[str, Rows] = defaultdict(list)
    for r in _read(out / "tables.csv"):
        by_table[r["table"]].append(r)
    for name, trows in sorted(by_table.items()):
        t = [_num(r["t_s"]) / 60 for r in trows]
        axes[3].plot(t, [_num(r["log"]) for r in trows], label=name, lw=1)
        line = axes[4].plot(t, [_num(r["live"]) for r in trows], label=name, lw=1)
        axes[4].plot(t, [_num(r["parquet"]) for r in trows], ls="--", lw=1,
                     color=line[0].get_color())
    axes[3].set_ylabel("_delta_log objects")
    axes[4].set_ylabel("live data files (dashed: all .parquet)")
    t = [_num(r["t_s"]) / 60 for r in rows]
    # A sample measures the window before it: the quiet phase begins at the last busy one.
    quiet = [i for i, r in enumerate(rows) if r["phase"] == "quiet"]
    for i, ax in enumerate(axes):
        if i >= 3:
            ax.set_yscale("symlog")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if quiet:
            ax.axvspan(t[max(quiet[0] - 1, 0)], t[quiet[-1]], color="0.9", zorder=0)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes since the ingestion ended (quiet phase shaded)")
    fig.tight_layout()
    path = out / "soak.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


if __name__ == "__main__":
    report(Path(sys.argv[1]))
    print(chart(Path(sys.argv[1])))
