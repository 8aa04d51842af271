"""The function runtime against the real embedded stack (moto server, pgserver, runtime)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import Cloud, wait_for

pytestmark = pytest.mark.integration
BUCKET = "probe-bucket"


def _send(cloud: Cloud, queue: str, bodies: list[dict[str, Any]]) -> None:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for i in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps(b)} for n, b in enumerate(bodies[i:i + 10])])


def test_every_part_is_healthy_and_status_reports_it(probe_cloud: Cloud) -> None:
    out = subprocess.run([sys.executable, "-m", "localcloud.cli", "stack", "status", "--json"],
                         env=probe_cloud.env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    parts = {p["name"]: p for p in status["services"]}
    assert status["endpoints"]["aws"] == probe_cloud.settings.emulator_url
    assert set(parts) == {"emulator", "postgres", "datasync", "runtime", "hallow", "snapshots",
                          "timeline", "athena", "bazaar"}
    for part in parts.values():
        assert part["healthy"] and part["state"] == "running"
        assert psutil.pid_exists(part["pid"])


def test_stack_up_is_idempotent(probe_cloud: Cloud) -> None:
    before = {s.name: s.pid for s in probe_cloud.stack.status()}
    after = probe_cloud.stack.up()
    assert all(s.reused for s in after)
    assert {s.name: s.pid for s in after} == before


def test_sqs_batches_and_partial_failure_redelivers_only_failed_records(probe_cloud: Cloud) -> None:
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}-{i}" for i in range(6)]
    failing = {ids[1], ids[4]}
    _send(probe_cloud, "probe-work",
          [{"id": i, "fail_times": 1 if i in failing else 0} for i in ids])
    wait_for(lambda: len(probe_cloud.keys(BUCKET, f"work/done/{run}")) == 6, 30,
             what="all six records to be processed")
    seen = probe_cloud.keys(BUCKET, f"work/seen/{run}")
    receives = {i: sorted(int(k.rsplit("/", 1)[1]) for k in seen if f"/{i}/" in k) for i in ids}
    for i in ids:
        assert receives[i] == ([1, 2] if i in failing else [1]), (i, receives[i])
    sizes = [int(probe_cloud.client("s3").get_object(Bucket=BUCKET, Key=k)["Body"].read())
             for k in probe_cloud.keys(BUCKET, "work/batches/")]
    assert max(sizes) > 1, "records were delivered one per invocation, not in batches"


def _take_dead_letters(cloud: Cloud, dlq: str, prefix: str) -> set[str]:
    """The ids starting with ``prefix`` of the messages now in ``dlq``, deleted from it."""
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    ids: set[str] = set()
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in msgs:
            if (msg_id := json.loads(m["Body"])["id"]).startswith(prefix):
                ids.add(msg_id)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return ids


def test_record_that_keeps_failing_lands_in_dlq_after_max_receive_count(probe_cloud: Cloud) -> None:
    poison = f"poison-{uuid.uuid4().hex[:8]}"
    _send(probe_cloud, "probe-work", [{"id": poison, "fail_times": 99}])
    wait_for(lambda: _take_dead_letters(probe_cloud, "probe-work-dlq", poison), 40,
             what="the poison message in the DLQ")
    assert len(probe_cloud.keys(BUCKET, f"work/seen/{poison}/")) == 2  # maxReceiveCount
    assert probe_cloud.keys(BUCKET, f"work/done/{poison}") == []


def _awslocal(cloud: Cloud, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cloud.env, "LOCALSTACK_HOST": f"127.0.0.1:{cloud.settings.emulator_port}"}
    awslocal = os.path.join(os.path.dirname(sys.executable), "awslocal")
    return subprocess.run([awslocal, *args], env=env, capture_output=True, text=True,
                          check=False)


def test_disabled_schedule_does_not_fire_and_fires_again_once_enabled(probe_cloud: Cloud) -> None:
    ticks = lambda: len(probe_cloud.keys(BUCKET, "tick/"))  # noqa: E731
    start = ticks()
    wait_for(lambda: ticks() >= start + 2, 15, what="the schedule to fire (1.2 s period)")

    assert _awslocal(probe_cloud, "events", "disable-rule", "--name", "probe-tick").returncode == 0
    wait_for(lambda: probe_cloud.client("events").describe_rule(Name="probe-tick")["State"]
             == "DISABLED", 5, what="rule disabled")
    threading.Event().wait(1.0)  # let an invocation already dispatched finish
    paused_at = ticks()
    threading.Event().wait(4.0)  # more than three periods
    assert ticks() == paused_at, "a disabled schedule fired"

    assert _awslocal(probe_cloud, "events", "enable-rule", "--name", "probe-tick").returncode == 0
    wait_for(lambda: ticks() >= paused_at + 2, 15, what="the schedule to fire again")
    event = json.loads(probe_cloud.client("s3").get_object(
        Bucket=BUCKET, Key=sorted(probe_cloud.keys(BUCKET, "tick/"))[-1])["Body"].read())
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"][0].endswith(":rule/probe-tick")


def test_function_url_answers_http_with_the_handlers_response(probe_cloud: Cloud) -> None:
    url = f"{probe_cloud.settings.runtime_url}/lambda-url/probe-echo/some/path?x=1&y=2"
    resp = httpx.post(url, content=b'{"hello": "world"}',
                      headers={"content-type": "application/json"})
    assert resp.status_code == 201
    assert resp.headers["x-probe"] == "echo"
    seen = resp.json()
    assert seen["method"] == "POST" and seen["path"] == "/some/path"
    assert seen["routeKey"] == "$default"
    assert json.loads(seen["body"]) == {"hello": "world"}
    assert seen["query"] == {"x": "1", "y": "2"}
    assert 0 < seen["remaining_ms"] <= 10_000  # the template's Timeout, counting down
    assert seen["memory_mb"] == "256" and seen["env_bucket"] == "probe-bucket"  # str on Lambda


def test_http_api_route_passes_path_parameters(probe_cloud: Cloud) -> None:
    base = probe_cloud.settings.runtime_url
    resp = httpx.post(f"{base}/echo/alice", content=b"hi", headers={"content-type": "text/plain"})
    assert resp.status_code == 201
    assert resp.json()["pathParameters"] == {"name": "alice"}
    assert resp.json()["routeKey"] == "POST /echo/{name}"
    assert httpx.get(f"{base}/echo/alice").status_code == 404  # only POST is routed
    assert httpx.post(f"{base}/nowhere").status_code == 404


def test_awslocal_invoke_returns_the_handlers_real_result(probe_cloud: Cloud,
                                                          tmp_path: Any) -> None:
    out = tmp_path / "out.json"
    proc = _awslocal(probe_cloud, "lambda", "invoke", "--function-name", "probe-nap",
                     "--payload", '{"seconds": 0.1}', str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"slept": 0.1}
    assert json.loads(proc.stdout)["StatusCode"] == 200


def test_handler_errors_and_timeouts_are_reported_like_lambda(probe_cloud: Cloud) -> None:
    lam = probe_cloud.client("lambda")
    resp = lam.invoke(FunctionName="probe-boom", Payload=b'{"why": "testing"}')
    assert resp["FunctionError"] == "Unhandled"
    err = json.loads(resp["Payload"].read())
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "boom: testing"
    assert err["stackTrace"]

    resp = lam.invoke(FunctionName="probe-nap", Payload=b'{"seconds": 5}')
    assert resp["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in json.loads(resp["Payload"].read())["errorMessage"]

    # ...and the runtime keeps serving the same function afterwards.
    resp = lam.invoke(FunctionName="probe-nap", Payload=b'{"seconds": 0}')
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == {"slept": 0}

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")


def test_independent_invocations_run_in_parallel_processes(probe_cloud: Cloud) -> None:
    lam = probe_cloud.client("lambda")
    results: list[dict[str, float]] = []

    def call() -> None:
        resp = lam.invoke(FunctionName="probe-spin", Payload=b'{"seconds": 1.5}')
        results.append(json.loads(resp["Payload"].read()))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = results
    assert a["pid"] != b["pid"]
    # CPU-bound handlers overlapped in time: the GIL did not serialize them.
    assert a["start"] < b["end"] and b["start"] < a["end"]


def test_sigkill_of_runtime_mid_batch_loses_no_message(probe_cloud: Cloud) -> None:
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}-{i}" for i in range(12)]
    _send(probe_cloud, "probe-slow", [{"id": i, "sleep": 0.4} for i in ids])
    done = lambda: {k.split("/")[2] for k in probe_cloud.keys(BUCKET, f"slow/done/{run}")}  # noqa: E731
    wait_for(lambda: len(done()) >= 1, 20, every=0.05, what="the first record to be processed")

    stack = probe_cloud.stack
    runtime = stack.service("runtime")
    pid = stack.pid(runtime)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: stack.pid(runtime) is None, 10, what="the runtime to die")
    assert len(done()) < len(ids), "everything finished before the kill; the test proves nothing"

    stack.start(runtime)
    stack.wait_healthy(runtime, 30)
    wait_for(lambda: done() == set(ids), 40, what="every message after restart")


def test_a_function_over_its_memory_is_killed_and_reported(probe_cloud: Cloud) -> None:
    lam = probe_cloud.client("lambda")
    out = lam.invoke(FunctionName="probe-hog", Payload=b'{"mb": 600}')
    error = json.loads(out["Payload"].read())
    assert out.get("FunctionError") == "Unhandled", error
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert "memory limit of 256 MB exceeded" in error["errorMessage"]
    again = lam.invoke(FunctionName="probe-hog", Payload=b'{"mb": 8, "hold_s": 0}')
    assert "FunctionError" not in again  # a new environment serves the next call
    assert json.loads(again["Payload"].read()) == {"held_mb": 8}


# The pollers are the runtime's, whatever the function runs from: one stack is enough.
@pytest.mark.parametrize("probe_cloud", ["checkout"], indirect=True)
def test_messages_waiting_for_a_busy_function_are_not_dead_lettered(probe_cloud: Cloud) -> None:
    """Direct invocations keep probe-busy's three workers occupied while its queue holds more
    than they can take. Each receive counts toward maxReceiveCount (2 here, visibility 2 s):
    a poller that received what no worker could take, and held it past its visibility
    timeout, sent healthy messages to the DLQ although no handler ever failed on them."""
    run = uuid.uuid4().hex[:8]
    ids = {f"{run}-{i}" for i in range(30)}
    done: set[str] = set()
    dead: set[str] = set()
    receives: set[int] = set()  # the receive counts the handler saw
    settled = threading.Event()

    def keep_workers_busy() -> None:  # 1.5 s of work every 0.2 s: 7.5 workers' worth, for 3
        lam = probe_cloud.client("lambda")
        for _ in range(100):
            lam.invoke(FunctionName="probe-busy", InvocationType="Event",
                       Payload=b'{"sleep": 1.5}')
            if settled.wait(0.2):
                return

    crowd = threading.Thread(target=keep_workers_busy)
    crowd.start()
    try:
        threading.Event().wait(2.0)  # the crowd is waiting for workers before the queue fills
        _send(probe_cloud, "probe-busy", [{"id": i, "sleep": 0.1} for i in sorted(ids)])

        def all_settled() -> bool:
            marks = probe_cloud.keys(BUCKET, f"busy/done/{run}")
            receives.update(int(k.split("/")[3]) for k in marks)
            done.update(k.split("/")[2] for k in marks)
            dead.update(_take_dead_letters(probe_cloud, "probe-busy-dlq", run))
            return done | dead == ids

        wait_for(all_settled, 120, every=1.0, what="every message handled or dead-lettered")
    finally:
        settled.set()
        crowd.join()
    print(f"dead-lettered {len(dead)} of {len(ids)}; receive counts seen {sorted(receives)}")
    assert not dead, f"{len(dead)} of {len(ids)} healthy messages were dead-lettered"
