"""The stack's own Hallow simulator pushes for a while; the lake then reconciles with it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from pyarrow import fs

from tests.conftest import ROOT, Cloud, start_cloud, wait_for

pytestmark = pytest.mark.integration
HALLOW = "http://127.0.0.1:4704"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("hallow"), ROOT / "template.yaml", 4700, {
        "TRIBUTARY_HALLOW_PORT": "4704", "TRIBUTARY_HALLOW_MIN_INTERVAL_S": "0.02",
        "TRIBUTARY_HALLOW_MAX_INTERVAL_S": "0.08", "TRIBUTARY_HALLOW_DUPLICATE_RATE": "0.1",
        "TRIBUTARY_WEBHOOK_FLUSH_AGE_S": "1", "TRIBUTARY_DATASYNC_EVENTS": "1000"})
    yield c
    c.stack.down()
    mp.undo()


def test_pushed_events_reconcile_with_the_lake(cloud: Cloud) -> None:
    wait_for(lambda: httpx.get(f"{HALLOW}/stats").json()["unique"] >= 300, 60,
             what="the simulator to push 300 events")
    sent = httpx.post(f"{HALLOW}/pause", timeout=30).json()
    assert sent["failed_requests"] == 0 and sent["repeats"] > 0 and sent["signups"] > 0
    assert sent["accepted"] == sent["expected_rows"]  # sent - signups - duplicates
    s3 = fs.S3FileSystem(endpoint_override=cloud.settings.emulator_url, access_key="test",
                         secret_key="test", region="us-east-1", scheme="http")

    def lake_rows() -> int:
        try:
            return int(ds.dataset("tributary-lake/webhook_events", filesystem=s3,
                                  format="parquet", partitioning="hive").count_rows())
        except (FileNotFoundError, OSError):
            return 0

    wait_for(lambda: lake_rows() == sent["expected_rows"], 30, what="every event in the lake")
    table = ds.dataset("tributary-lake/webhook_events", filesystem=s3, format="parquet",
                       partitioning="hive").to_table()
    assert pc.count_distinct(table["event_id"]).as_py() == sent["expected_rows"]
    assert "signup" not in set(table["event_type"].to_pylist())
