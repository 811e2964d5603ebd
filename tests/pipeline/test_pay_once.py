"""A job pays for one prediction per attempt, and nothing it started outlives it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from core.keys import metadata_key
from core.storage import Storage
from tests.pipeline.conftest import submit, wait_for

AUTH = {"Authorization": "Bearer r8_test"}
FLUX = "/v1/models/black-forest-labs/flux-schnell/predictions"


async def predictions_for(provider: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """Every prediction the fake holds whose webhook names the job, read page by page."""
    found, url = [], "/v1/predictions"
    while url:
        page = (await provider.get(url, headers=AUTH)).json()
        for item in page["results"]:
            full = (
                item
                if "webhook" in item
                else (await provider.get(f"/v1/predictions/{item['id']}", headers=AUTH)).json()
            )
            if job_id in (full.get("webhook") or ""):
                found.append(full)
        url = page.get("next") or ""
    return found


async def stray_prediction(provider: httpx.AsyncClient, hook: str, prompt: str) -> dict[str, Any]:
    """A slow prediction created at the fake behind the service's back, naming `hook`."""
    response = await provider.post(
        FLUX,
        json={
            "input": {"prompt": prompt, "fake": {"latency": 30}},
            "webhook": hook,
            "webhook_events_filter": ["start", "completed"],
        },
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    return prediction


async def until(check, provider, job_id, within=60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        found = await predictions_for(provider, job_id)
        if check(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


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
