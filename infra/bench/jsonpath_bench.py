"""The JSONPath libraries a records path could use, compared: RFC 9535 compliance and speed.

    .venv/bin/python infra/bench/jsonpath_bench.py                       # speed
    .venv/bin/python infra/bench/jsonpath_bench.py --cts cts.json        # and the RFC's suite
    .venv/bin/python infra/bench/jsonpath_bench.py --libs /tmp/jp        # candidates from here

``--cts`` is the JSONPath compliance test suite's ``cts.json`` (jsonpath-standard/
jsonpath-compliance-test-suite, not shipped here): each library runs every case, a case
passes when an invalid selector is refused, or a valid one compiles and yields the expected
values (any of them, for the cases with several valid orders). Libraries not installed are
named and skipped (``--libs`` adds a folder made by ``pip install --target``).

Speed: selecting the records from one 10,000-record page (``{"data": {"items": [{"customer":
{10 fields}, "type": ...}]}}``) by a plain path, a ``[*]`` projection, a filter and recursive
descent; the best of five runs, the path compiled once as a declaration's is. ``tributary``
is what a stream runs (``sources.paths``: names and ``[*]`` walked by itself, the rest by
jsonpath-rfc9535); ``dotted walk (before)`` is what a plain path cost before JSONPath.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers"))

Query = Callable[[Any], list[Any]]
Compiler = Callable[[str], Query]

PATHS = [
    ("plain", "$.data.items"),
    ("projection", "$.data.items[*].customer"),
    ("filter", "$.data.items[?@.type == 'invoice']"),
    ("descent", "$..customer"),
]


def _python_jsonpath() -> Compiler:
    import jsonpath

    env = jsonpath.JSONPathEnvironment(strict=True)

    def compile_(path: str) -> Query:
        return env.compile(path).findall

    return compile_


def _jsonpath_rfc9535() -> Compiler:
    import jsonpath_rfc9535

    def compile_(path: str) -> Query:
        query = jsonpath_rfc9535.compile(path)
        return lambda doc: query.find(doc).values()

    return compile_


def _jsonpath_ng() -> Compiler:
    from jsonpath_ng.ext import parse

    def compile_(path: str) -> Query:
        expr = parse(path)
        return lambda doc: [m.value for m in expr.find(doc)]

    return compile_


def _tributary() -> Compiler:
    from tributary.sources.paths import compile_records_path

    def compile_(path: str) -> Query:
        compiled = compile_records_path(path)
        return lambda doc: compiled.select(doc) or []

    return compile_


def _dotted() -> Compiler:
    """What a plain path cost before JSONPath (records_at's dotted way, per page), to
    compare."""
    from tributary.sources.paths import dig

    def compile_(path: str) -> Query:
        if "[" in path or ".." in path:
            raise ValueError("dotted paths only")

        def query(doc: Any) -> list[Any]:
            dotted = path.removeprefix("$").removeprefix(".")
            found = dig(doc, dotted) if "[*]" not in dotted else None
            return found if isinstance(found, list) else []

        return query

    return compile_


LIBRARIES: dict[str, Callable[[], Compiler]] = {
    "python-jsonpath": _python_jsonpath, "jsonpath-rfc9535": _jsonpath_rfc9535,
    "jsonpath-ng": _jsonpath_ng}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _case(compile_: Compiler, case: dict[str, Any]) -> bool:
    try:
        query = compile_(case["selector"])
    except Exception:  # noqa: BLE001 - each library raises its own errors
        return bool(case.get("invalid_selector"))
    if case.get("invalid_selector"):
        return False
    try:
        got = query(case["document"])
    except Exception:  # noqa: BLE001 - a crash on a valid query is a failed case
        return False
    expected = case["results"] if "results" in case else [case["result"]]
    return any(got == e for e in expected)


def compliance(cts: Path, compilers: dict[str, Compiler]) -> None:
    cases = json.loads(cts.read_text())["tests"]
    warnings.simplefilter("ignore", DeprecationWarning)  # jsonpath-ng's, on some selectors
    print(f"RFC 9535 compliance suite: {len(cases)} cases ({cts})")
    for name, compile_ in compilers.items():
        failed = [c["name"] for c in cases if not _case(compile_, c)]
        print(f"  {name:18} {_version(name):8} passed {len(cases) - len(failed):4}  "
              f"failed {len(failed):4}")
        for case_name in failed[:5]:
            print(f"      e.g. {case_name}")


def page(n: int = 10_000) -> dict[str, Any]:
    """A realistic page: records under wrapper keys, each a nested customer and a type."""
    items = [{"id": i, "type": "invoice" if i % 3 == 0 else "refund", "amount": i * 1.5,
              "customer": {"id": i, "name": f"Customer {i}", "email": f"c{i}@example.com",
                           "country": "NL", "city": "Utrecht", "vip": i % 7 == 0,
                           "created_at": "2025-01-02T03:04:05Z", "balance": i * 2.25,
                           "tags": ["a", "b"], "score": i % 100}}
             for i in range(n)]
    return {"data": {"items": items, "total": n}, "links": {"next": None}}


def _best_ms(query: Query, doc: Any, runs: int) -> float:
    """The best of ``runs`` runs, each of enough calls to last 20 ms (a plain path takes
    microseconds)."""
    start = time.perf_counter()
    query(doc)
    calls = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            query(doc)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1000


def speed(compilers: dict[str, Compiler], runs: int = 5) -> None:
    doc = page()
    print(f"selecting from a {len(doc['data']['items']):,}-record page, best of {runs} (ms)")
    print(f"  {'':20}" + "".join(f"{label:>12}" for label, _ in PATHS))
    for name, compile_ in compilers.items():
        cells = []
        for _, path in PATHS:
            try:
                query = compile_(path)
            except Exception:  # noqa: BLE001 - a form this one cannot read
                cells.append("-")
                continue
            cells.append(f"{_best_ms(query, doc, runs):.4g}" + ("" if query(doc) else " (0!)"))
        print(f"  {name:20}" + "".join(f"{c:>12}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cts", type=Path, help="the compliance suite's cts.json")
    ap.add_argument("--libs", type=Path, help="a folder of candidate libraries")
    args = ap.parse_args()
    if args.libs:
        sys.path.insert(1, str(args.libs))
    compilers: dict[str, Compiler] = {}
    for name, make in LIBRARIES.items():
        try:
            compilers[name] = make()
        except ImportError:
            print(f"  ({name} is not installed: skipped)")
    if args.cts:
        compliance(args.cts, compilers)
    speed({**compilers, "tributary": _tributary(), "dotted walk (before)": _dotted()})


if __name__ == "__main__":
    main()
