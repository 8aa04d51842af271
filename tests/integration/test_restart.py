"""A clean stop of the runtime (``stack restart runtime``, ``down``, ``rotate-token``) leaves
nothing to wait out: the SQS messages it held go back to their queue at once, so the next
``ingest --wait`` does not sit behind their visibility timeout, and nothing is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from simulators.datasync.data import Dataset
from simulators.settings import DatasyncServerSettings
from tests.conftest import ROOT, Cloud, start_cloud, wait_for

pytestmark = pytest.mark.integration
VISIBILITY_S = 180  # the template's TransformVisibilityTimeout, left at its default
ENV = {
    "TRIBUTARY_DATASYNC_EVENTS": "60000", "TRIBUTARY_DATASYNC_SESSIONS": "400",
    "TRIBUTARY_DATASYNC_USERS": "50", "TRIBUTARY_DATASYNC_DAYS": "2",
    "TRIBUTARY_DATASYNC_FEED_PAGE_SIZE": "500", "TRIBUTARY_DATASYNC_PAGE_SIZE": "100",
    "TRIBUTARY_DATASYNC_PARTITION_EVENTS": "6000", "TRIBUTARY_DATASYNC_RATE_FEED": "8",
    "TRIBUTARY_HALLOW_PUSH": "false",
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("restart"), ROOT / "template.yaml", 4980, ENV)
    yield c
    c.stack.down()
    mp.undo()


def _in_flight(cloud: Cloud) -> int:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="tributary-transform")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_a_restart_mid_ingestion_leaves_nothing_to_wait_out(cloud: Cloud) -> None:
    started = cloud.cli("ingest", "--source", "datasync")
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for(lambda: _in_flight(cloud) > 0, 60, 0.05, what="pages being transformed")
    restart = cloud.cli("stack", "restart", "runtime", timeout=120)
    assert restart.returncode == 0, restart.stdout + restart.stderr

    began = time.monotonic()
    done = cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "300",
                     timeout=330)
    waited = time.monotonic() - began
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert waited < VISIBILITY_S, (
        f"the ingestion after the restart took {waited:.0f}s: messages the stopped runtime "
        f"held waited out their {VISIBILITY_S}s visibility timeout")
    expected = Dataset(DatasyncServerSettings()).n
    assert cloud.sql("SELECT count(*) FROM events")[0][0] == expected
    stops = [orjson.loads(line) for line in
             (cloud.settings.home_dir / "logs" / "runtime.log").read_text().splitlines()
             if '"runtime stopped"' in line]
    assert stops[0]["released_messages"] >= 1, stops  # the restart did catch pages in flight
    print(f"after the restart: {waited:.1f}s; the stop released "
          f"{stops[0]['released_messages']} messages, interrupted "
          f"{stops[0]['interrupted_handlers']} handlers")
