"""Each declared source's poll schedule is in template.yaml, exactly as declared."""

from __future__ import annotations

import json

import yaml

from localcloud.cfn import CfnLoader
from localcloud.schedules import schedule_events, template_block
from localcloud.template import load_template
from tests.conftest import ROOT
from tributary.sources.loader import load_dir, parse


def test_template_holds_the_schedules_the_declarations_imply() -> None:
    expected = schedule_events(load_dir(ROOT / "sources"))
    doc = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)  # noqa: S506
    events = doc["Resources"]["FetchFunction"]["Properties"]["Events"]
    assert events == expected, "template.yaml is out of date; `tributary sources` prints:\n" \
        + template_block(expected)


def test_runtime_reads_one_rule_per_source_with_its_input() -> None:
    fetch = load_template(ROOT / "template.yaml", parameters={"PgDsn": "x"}).function(
        "tributary-fetch")
    rules = {s.rule_name: (s.expression, json.loads(s.input or "{}")) for s in fetch.schedules}
    assert rules == {
        "tributary-fetch-datasync": ("rate(5 minutes)", {"source": "datasync"}),
        "tributary-fetch-hallow": ("rate(1 minute)", {"source": "hallow"}),
        "tributary-fetch-snapshots": ("rate(1 minute)", {"source": "snapshots", "poll_s": 55}),
        "tributary-fetch-bazaar": ("rate(5 minutes)", {"source": "bazaar"}),
    }


def test_intervals_round_to_whole_minutes_and_sub_minute_ones_poll_in_a_loop() -> None:
    text = """
name: slow_api
base_url: http://x
interval_s: 1800
streams:
  - {name: a, endpoint: /a, records_path: '', primary_key: id, pagination: {style: single},
     table: a, columns: {id: {}}}
  - {name: b, endpoint: /b, records_path: '', primary_key: id, pagination: {style: single},
     table: b, columns: {id: {}}, interval_s: 600}
"""
    events = schedule_events({"slow_api": parse(text, "slow_api.yaml")})
    props = events["PollSlowApi"]["Properties"]
    assert (props["Schedule"], json.loads(props["Input"])) == (
        "rate(10 minutes)", {"source": "slow_api"})
