"""The live source's parts that need no stack: messages, window plans, handover alignment,
push chunks, and the simulator's table."""

from __future__ import annotations

import orjson
import pytest

from simulators.timeline.table import TimelineTable
from tests.conftest import ROOT
from tributary.live.changes import BadMessage, fingerprint, parse
from tributary.live.consumer import _after_tail
from tributary.live.fanout import MAX_MESSAGE_BYTES, chunks
from tributary.live.upstream import OPEN_START, OPEN_STOP, Connected, Message, plan
from tributary.sources.live import LiveSource
from tributary.sources.loader import load_all

SOURCE = load_all(ROOT / "sources")["timeline"]
assert isinstance(SOURCE, LiveSource)
STREAM = SOURCE.stream


def test_messages_of_each_kind_parse_and_bad_ones_say_why() -> None:
    row = {"id": 7, "timestamp": 1_800_000_000, "body": "x"}
    ins = parse(STREAM, orjson.dumps({"type": "insert", **row}).decode(), 1.0)
    assert (ins.op, ins.key, ins.time_s, ins.row) == ("insert", 7, 1_800_000_000, row)
    mut = parse(STREAM, orjson.dumps({"type": "mutate", "old": row,
                                      "new": {**row, "body": "y"}}).decode(), 1.0)
    assert (mut.op, mut.row["body"], mut.old) == ("mutate", "y", row)
    for text, why in [("nope", "not JSON"), ('{"type": "upsert"}', "unknown change type"),
                      ('{"type": "insert", "id": 1}', "without 'timestamp'"),
                      ('{"type": "insert", "id": 1, "timestamp": "soon"}', "epoch seconds"),
                      ('{"type": "mutate", "old": {"id": 1, "timestamp": 1}, '
                       '"new": {"id": 2, "timestamp": 1}}', "changes the key")]:
        with pytest.raises(BadMessage, match=why):
            parse(STREAM, text, 1.0)


def test_the_plan_covers_the_whole_time_line_without_overlap() -> None:
    windows = plan(SOURCE, 1_800_000_123)
    assert windows[0][0] == OPEN_START and windows[-1][1] == OPEN_STOP
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert all(b - a == STREAM.window_s for a, b in windows[1:-1])
    assert windows[1][0] <= 1_800_000_123 + STREAM.plan_s[0]


def _msgs(*texts: str) -> list[Message | Connected]:
    return [Connected(0.0, 1), *(Message(t, 0.0) for t in texts)]


def test_a_successor_skips_what_its_predecessor_applied() -> None:
    buffered = _msgs("a", "b", "c", "d")
    assert _after_tail(buffered, [fingerprint("x"), fingerprint("b")]) == buffered[3:]
    # the predecessor stopped before anything the successor saw: all of it, no repair marker
    assert _after_tail(buffered, [fingerprint("x")]) == buffered[1:]
    # overlapping, but the last applied message is not there: keep the marker (a repair)
    odd = _after_tail(buffered, [fingerprint("b"), fingerprint("zz")])
    assert isinstance(odd[0], Connected)
    # no tail (the predecessor died): everything, and the marker
    assert _after_tail(buffered, []) == buffered


def test_pushes_are_split_under_the_message_limit() -> None:
    changes = [{"seq": i, "row": {"body": "x" * 1000}} for i in range(400)]
    out = chunks(changes)
    assert len(out) > 1 and all(len(m) <= MAX_MESSAGE_BYTES + 2_000 for m in out)
    assert [c["seq"] for m in out for c in orjson.loads(m)["changes"]] == list(range(400))


def test_the_simulated_table_is_seeded_ordered_and_changes_by_weight() -> None:
    a, b = TimelineTable(5_000, 3, 1_800_000_000), TimelineTable(5_000, 3, 1_800_000_000)
    assert a.select(None, None) == b.select(None, None)
    rows = a.select(1_800_000_000 + 86_400, 1_800_000_000 + 3 * 86_400)
    assert [(r["timestamp"], r["id"]) for r in rows] == sorted(
        (r["timestamp"], r["id"]) for r in rows)
    ops = a.operations(5_000, 1_800_000_000)
    kinds = {k: sum(o["type"] == k for o in ops) for k in ("insert", "mutate", "delete")}
    assert 2.5 < kinds["insert"] / kinds["delete"] < 3.5 and 0.8 < kinds["mutate"] / kinds[
        "delete"] < 1.25
    assert all(o["old"]["body"] != o["new"]["body"] for o in ops if o["type"] == "mutate")
    assert a.live == 5_000 + kinds["insert"] - kinds["delete"] == len(a.select(None, None))
