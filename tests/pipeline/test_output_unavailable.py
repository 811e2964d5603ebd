"""An output that is gone when the worker fetches it (an expired URL) fails the job at once."""

from __future__ import annotations

import httpx
from temporalio.api.enums.v1 import EventType

from tests.pipeline.conftest import read_row, submit, wait_for


async def test_an_expired_output_fails_the_job_after_one_store_attempt(
    api, sessions, temporal, settings
):
    expired = {"fail_download": 1_000_000, "download_status": 404}  # every download 404s
    job = await submit(api, "a vanished fox", parameters={"fake": expired})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=30)

    assert document["status"] == "failed"
    assert document["error"]["type"] == "OutputUnavailable"
    assert document["error"]["retryable"] is False
    assert httpx.URL(settings.provider_base_url).host in document["error"]["message"]
    assert "404" in document["error"]["message"]
    assert "/files/" not in document["error"]["message"]  # the host, never the whole URL
    assert document["retry_count"] == 0
    assert (await read_row(sessions, job["id"])).error == document["error"]
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    store_ids = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "store_output"
    }
    store_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in store_ids
    ]
    assert store_attempts == [1]
