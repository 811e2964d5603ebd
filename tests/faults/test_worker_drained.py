"""The worker gets SIGTERM (a deploy, `docker compose stop`) while it streams an output.

It stops taking work but lets the upload it is in the middle of finish before it exits
(the Worker's `graceful_shutdown_timeout`, WORKER_GRACEFUL_SHUTDOWN_SECONDS). The attempt
is neither cancelled nor redone: store_output runs once, its output is downloaded once, and
the job completes without a retry when the next worker takes its workflow.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.faults.checker import check_jobs
from tests.faults.harness import FaultEnv, Planned, Workload, provider_state, restore, submit_all

pytestmark = pytest.mark.slow

OUTPUT_BYTES = 600_000
BYTES_PER_SECOND = 60_000  # the output takes ~10 s to download: SIGTERM lands midway
SIGTERM_AFTER = 2.0  # seconds into the download
EXIT_WITHIN = 40.0  # seconds: the download's remainder, well inside the 60 s drain


async def store_output_started(handle: WorkflowHandle[Any, Any], within: float) -> None:
    """Wait until the workflow's store_output activity runs on a worker."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            pending = list((await handle.describe()).raw_description.pending_activities)
        except RPCError as exc:  # a submit's 202 comes before its workflow starts
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            pending = []
        if any(
            activity.activity_type.name == "store_output"
            and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for activity in pending
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"store_output of {handle.id} not started after {within} s")


async def exited(env: FaultEnv, name: str, within: float) -> float:
    """Seconds until child `name` has exited."""
    began = time.monotonic()
    while env.stack.pid(name) is not None:
        assert time.monotonic() - began < within, f"{name} still running after {within} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def store_output_attempts(handle: WorkflowHandle[Any, Any]) -> tuple[list[int], int]:
    """The attempt of each store_output's started event, and how many store_outputs completed."""
    events = (await handle.fetch_history()).events
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "store_output"
    }
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    completed = sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    )
    return attempts, completed


async def test_sigterm_lets_the_running_upload_finish_without_a_retry(faults, report):
    fake = {"latency": 0.2, "output_bytes": OUTPUT_BYTES, "slow_download": BYTES_PER_SECOND}
    job = Planned(
        prompt="fault worker-sigterm: a slow output",
        parameters={"width": 256, "height": 256, "num_outputs": 1, "fake": fake},
        expect="completed",
        outputs=1,
    )
    workload = Workload("worker-sigterm", [job])
    await submit_all(faults.api, workload.jobs)
    assert job.job_id is not None
    handle = faults.temporal.get_workflow_handle(job.job_id)
    await store_output_started(handle, within=30)
    await asyncio.sleep(SIGTERM_AFTER)
    sent_before = (await provider_state(faults))["download_bytes"]
    try:
        await asyncio.to_thread(faults.stack.kill, "worker", signal.SIGTERM, wait=False)
        drained = await exited(faults, "worker", EXIT_WITHIN)
    finally:
        await restore(faults.stack, "worker")

    outcome = await check_jobs(faults, "worker SIGTERM mid-upload", workload, within=120)
    report(f"{outcome.line()}; the worker exited {drained:.1f} s after SIGTERM")
    attempts, completed = await store_output_attempts(handle)
    document = (await faults.api.get(f"/api/v1/status/{job.job_id}")).json()
    state = await provider_state(faults)
    assert 0 < sent_before < OUTPUT_BYTES, "SIGTERM did not land during the download"
    assert attempts == [1], f"store_output attempts {attempts}: the upload was cut and redone"
    assert completed == 1
    assert document["status"] == "completed", document
    assert document["retry_count"] == 0, document
    assert state["downloads"] == 1, state
    outcome.assert_clean()
