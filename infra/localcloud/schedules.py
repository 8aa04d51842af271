"""The fetch schedules that the source declarations imply, one EventBridge rule per source.

Each rule is the source's pause switch (``tributary pause``, ``awslocal events disable-rule``)
and fires at the source's shortest poll interval, in whole minutes as EventBridge allows. A
source polled more often than once a minute gets ``poll_s``: the invocation keeps polling,
each stream at its own interval, until the next firing. ``template.yaml`` must hold exactly
these (a test checks it); ``tributary sources`` prints the block to paste.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tributary.pause import schedule_rule
from tributary.sources.spec import Source


def schedule_events(sources: dict[str, Source]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for src in sources.values():
        shortest = min(src.interval(s) for s in src.streams)
        minutes = max(1, int(shortest // 60))
        expression = "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"
        payload: dict[str, Any] = {"source": src.name}
        if shortest < 60:
            payload["poll_s"] = 60 * minutes - 5  # done before the next firing
        logical = "Poll" + "".join(part.title() for part in src.name.split("_"))
        out[logical] = {"Type": "Schedule", "Properties": {
            "Name": schedule_rule(src.name), "Schedule": expression,
            "Input": json.dumps(payload), "Enabled": True}}
    return out


def template_block(events: dict[str, dict[str, Any]]) -> str:
    text = yaml.safe_dump({"Events": events}, sort_keys=False, width=100)
    return "\n".join("      " + line for line in text.splitlines())
