"""A job pays for one prediction per attempt, and nothing it started outlives it."""

from __future__ import annotations

import json
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from core.keys import metadata_key
from core.storage import Storage
from tests.pipeline.conftest import submit, wait_for
from tests.pipeline.predictions import predictions_for, stray_prediction, until


async def assert_stray_stopped(
    provider: httpx.AsyncClient, storage: Storage, document: dict[str, Any], stray: dict[str, Any]
) -> None:
    """The job completed with its own prediction; the stray was cancelled and is listed."""
    assert document["status"] == "completed", document["error"]
    assert document["external_job_id"] != stray["id"]
    found = await until(
        lambda ps: any(p["id"] == stray["id"] and p["status"] == "canceled" for p in ps),
        provider,
        document["id"],
    )
    assert {p["id"]: p["status"] for p in found}[stray["id"]] == "canceled"
    metadata = await storage.get_json(metadata_key(document["id"]))
    assert metadata["orphaned_predictions"] == [stray["id"]]


async def test_a_create_whose_answer_is_lost_adopts_its_prediction(api, temporal: Client, provider):
    job = await submit(api, "a lost answer", parameters={"fake": {"lose_answer": 1}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"})

    assert document["status"] == "completed", document["error"]
    [prediction] = await predictions_for(provider, job["id"])
    assert prediction["id"] == document["external_job_id"]
    assert prediction["webhook"].endswith(f"/api/v1/webhooks/replicate/{job['id']}?attempt=1")
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts[0] == 2  # the first try lost its answer; the second found the prediction
    assert document["retry_count"] == 1


async def test_a_prediction_not_the_jobs_own_is_cancelled_and_listed(
    api, provider, storage: Storage, settings
):
    job = await submit(api, "a watched heron", parameters={"fake": {"latency": 6}})
    await wait_for(api, job["id"], {"processing"})
    hook = f"{settings.public_base_url}/api/v1/webhooks/replicate/{job['id']}?attempt=1"
    stray = await stray_prediction(provider, hook, "stray")

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=40)

    await assert_stray_stopped(provider, storage, document, stray)


async def test_a_start_heard_while_the_job_creates_its_own_is_kept_and_stopped(
    api, provider, storage: Storage, settings, temporal: Client
):
    """A stray's `start` that comes before the job's create has answered is kept on the row,
    not signalled; the job reads it as it records its own prediction, and cancels it."""
    job = await submit(
        api, "a slow-to-create heron", parameters={"fake": {"hang_create": 1, "hang_seconds": 4}}
    )
    hook = f"{settings.public_base_url}/api/v1/webhooks/replicate/{job['id']}?attempt=1"
    stray = await stray_prediction(provider, hook, "stray while creating")

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=40)

    await assert_stray_stopped(provider, storage, document, stray)
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    relayed = [  # the stray's `completed` (canceled) may be relayed; its start was not
        json.loads(payload.data)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        for payload in e.workflow_execution_signaled_event_attributes.input.payloads
    ]
    assert [p["status"] for p in relayed if p["id"] == stray["id"]] in ([], ["canceled"])


async def test_a_prediction_for_an_ended_job_is_cancelled_by_the_api(api, provider, settings):
    job = await submit(api, "an ended crane")
    document, _ = await wait_for(api, job["id"], {"completed", "failed"})
    assert document["status"] == "completed", document["error"]
    hook = f"{settings.public_base_url}/api/v1/webhooks/replicate/{job['id']}?attempt=7"

    stray = await stray_prediction(provider, hook, "too late")

    found = await until(
        lambda ps: any(p["id"] == stray["id"] and p["status"] == "canceled" for p in ps),
        provider,
        job["id"],
    )
    assert {p["id"]: p["status"] for p in found}[stray["id"]] == "canceled"
