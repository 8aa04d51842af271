"""The long run of the generative test: many seeds through one embedded stack per batch.

    flock /tmp/tributary-it.lock .venv/bin/python infra/bench/generative_bench.py --seeds 300

Prints the seeds, how many APIs ingested exactly, each failure with the command that runs
its seed again, and the time. ``TRIBUTARY_GEN_FEATURES`` switches features as in the test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from tests.generative import features as F  # noqa: E402 - after the path above
from tests.generative.api import generate  # noqa: E402
from tests.generative.run import Outcome, reproduce, run_passes, start  # noqa: E402

BASE = 4950  # the generative test's ports: hold /tmp/tributary-it.lock


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=300, help="How many APIs.")
    ap.add_argument("--base-seed", type=int, default=None, help="The first seed (default: "
                    "drawn now and printed).")
    ap.add_argument("--batch", type=int, default=25, help="APIs per stack.")
    ap.add_argument("--base-port", type=int, default=BASE, help="The stack's ports: this "
                    "and the next 9 (another range runs beside the test suite).")
    ap.add_argument("--pass-timeout", type=float, default=300, help="Seconds one ingest "
                    "pass of a batch may take.")
    args = ap.parse_args()
    base = args.base_seed if args.base_seed is not None else \
        int.from_bytes(os.urandom(3), "big") * 1000
    seeds = list(range(base, base + args.seeds))
    on = F.from_env()
    print(f"seeds {base}..{base + args.seeds - 1} (base {base}); batches of {args.batch}; "
          f"features off: {sorted(F.ALL - on)}", flush=True)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    for i in range(0, len(seeds), args.batch):
        batch = [generate(seed, on) for seed in seeds[i:i + args.batch]]
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="generative-") as home:
            stack = start(Path(home), batch, args.base_port)
            try:
                done, runs = run_passes(stack, batch, args.pass_timeout)
            finally:
                stack.down()
        outcomes += done
        exact = sum(o.ok for o in done)
        print(f"batch {i // args.batch + 1}: {exact}/{len(done)} exact, ingest exits "
              f"{[r.returncode for r in runs]}, {time.monotonic() - t0:.0f} s", flush=True)
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} APIs exact in "
          f"{time.monotonic() - started:.0f} s")
    for o in failed:
        print(f"- seed {o.api.seed}: {o.describe()}")
        for p in o.problems[:4]:
            print(f"    {p}")
        print(f"    reproduce: {reproduce([o.api.seed], 'exactly', on)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
