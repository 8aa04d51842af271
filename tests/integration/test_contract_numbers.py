"""DataSync served with other numbers than ours, all within SPEC 4.1: the pipeline holds.

Pages capped far below the asked limit, cursors that expire within seconds, stream tokens
that last 10 s, 2-4 requests per 1 s window with 500/503s and stalls, overlapping pages, fields
oddly typed, and every standard timestamp form. The run must end with exactly the valid
upstream ids, each at its instant, in PostgreSQL and the lake.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from localcloud.ingest import lake_ids
from simulators.datasync.data import Dataset
from simulators.settings import DatasyncServerSettings
from tests.conftest import ROOT, Cloud, start_cloud
from tributary.normalize.stamp_forms import FORMS

pytestmark = pytest.mark.integration
# The forms that keep milliseconds; the coarser ones are checked in the unit tests.
MS_FORMS = sorted(f for f, (_, step) in FORMS.items() if step == 1)
ENV = {
    "TRIBUTARY_DATASYNC_EVENTS": "20000", "TRIBUTARY_DATASYNC_SESSIONS": "400",
    "TRIBUTARY_DATASYNC_USERS": "50", "TRIBUTARY_DATASYNC_DAYS": "2",
    # asked: 5,000 per listing page and 10,000 per feed page (the defaults)
    "TRIBUTARY_DATASYNC_PAGE_CAP": "150", "TRIBUTARY_DATASYNC_FEED_PAGE_CAP": "1000",
    # Four feed partitions share 2 requests a second, so every feed cursor outlives its 1 s,
    # and the fetch outlasts a stream token's 10 s.
    "TRIBUTARY_DATASYNC_CURSOR_TTL_S": "1", "TRIBUTARY_DATASYNC_TOKEN_TTL_S": "10",
    "TRIBUTARY_DATASYNC_RATE_EVENTS": "4", "TRIBUTARY_DATASYNC_RATE_SESSIONS": "4",
    "TRIBUTARY_DATASYNC_RATE_FEED": "2",
    "TRIBUTARY_DATASYNC_CHAOS_ERROR_RATE": "0.05", "TRIBUTARY_DATASYNC_CHAOS_STALL_RATE": "0.03",
    "TRIBUTARY_DATASYNC_CHAOS_STALL_S": "2", "TRIBUTARY_DATASYNC_REQUEST_TIMEOUT_S": "1",
    "TRIBUTARY_DATASYNC_CHAOS_DUPLICATE_RATE": "0.3",
    "TRIBUTARY_DATASYNC_CHAOS_ODD_TYPES_RATE": "0.1",
    "TRIBUTARY_DATASYNC_TIMESTAMP_FORMS": json.dumps(MS_FORMS),
    "TRIBUTARY_DATASYNC_PARTITION_EVENTS": "5000",
    "TRIBUTARY_FETCH_LEASE_S": "4", "TRIBUTARY_PARAM_TransformVisibilityTimeout": "6",
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c, mp = start_cloud(tmp_path_factory.mktemp("contract"), ROOT / "template.yaml", 4760, ENV)
    yield c
    c.stack.down()
    mp.undo()


@pytest.fixture(scope="module")
def ingested(cloud: Cloud) -> subprocess.CompletedProcess[str]:
    return cloud.cli("ingest", "--source", "datasync", "--wait", "--timeout", "280",
                     timeout=300)


def test_the_run_ends_exact_and_says_so(cloud: Cloud,
                                        ingested: subprocess.CompletedProcess[str]) -> None:
    assert ingested.returncode == 0, ingested.stdout[-3000:] + ingested.stderr[-3000:]
    data = Dataset(DatasyncServerSettings())
    expected = {data.event(i)["id"]: int(data.ts[i]) for i in range(data.n)}
    pg = dict(cloud.sql("SELECT id, (extract(epoch FROM occurred_at) * 1000)::bigint "
                        "FROM events"))
    assert pg == expected
    assert lake_ids(cloud.settings, "events") == (data.n, data.n)
    assert cloud.sql("SELECT count(*) FROM rejects")[0][0] == 0


def test_oddly_typed_sessions_keep_their_values(cloud: Cloud,
                                                ingested: subprocess.CompletedProcess[str]
                                                ) -> None:
    data = Dataset(DatasyncServerSettings())
    odd = 0
    expected = {}
    for j in range(data.cfg.sessions):
        s = data.session(j)
        odd += isinstance(s["duration"], str)
        first, last = int(data.session_first[j]), int(data.session_first[j + 1]) - 1
        expected[s["id"]] = (int(data.ts[first]), int(data.ts[max(first, last)]),
                             int(s["duration"]), int(s["eventCount"]))
    assert odd > 10, "the settings should have sent some sessions oddly typed"
    pg = {r[0]: r[1:] for r in cloud.sql(
        "SELECT id, (extract(epoch FROM started_at) * 1000)::bigint, "
        "(extract(epoch FROM ended_at) * 1000)::bigint, duration_s, event_count FROM sessions")}
    assert pg == expected
    assert lake_ids(cloud.settings, "sessions") == (400, 400)


def test_the_faults_really_happened(cloud: Cloud,
                                    ingested: subprocess.CompletedProcess[str]) -> None:
    health = httpx.get(f"{DatasyncServerSettings().url}/health").json()
    assert health["chaos_errors"] > 0 and health["chaos_stalls"] > 0
    assert health["cursors_expired"] > 0
    assert health["tokens_issued"] > 1  # renewed before it lapsed (or after a 403)
