"""The pipeline end to end on the real stack: API → Temporal → worker → provider, S3, PostgreSQL."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.jobs import PREDICTION_SIGNAL, GenerateMediaResult
from core.keys import media_key, metadata_key
from tests.pipeline.conftest import read_row, submit, wait_for


async def test_a_job_walks_to_completed_and_its_media_downloads(api, storage, sessions, temporal):
    job = await submit(
        api,
        "a lighthouse at dawn",
        parameters={"width": 320, "height": 192, "output_format": "png", "seed": 7},
    )
    assert job["status"] == "pending"

    document, seen = await wait_for(api, job["id"], {"completed", "failed"})

    assert seen[-1] == "completed", document["error"]
    assert seen == [s for s in ["pending", "processing", "completed"] if s in seen]
    assert "processing" in seen or document["started_at"] is not None
    download = await api.get(f"/api/v1/download/{job['id']}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert int(download.headers["content-length"]) == len(download.content) == document["file_size"]
    assert f'filename="{job["id"]}.png"' in download.headers["content-disposition"]
    image = Image.open(io.BytesIO(download.content))
    assert (image.format, image.size) == ("PNG", (320, 192))


async def test_row_object_and_workflow_result_agree(api, storage, sessions, temporal):
    job = await submit(api, "two owls", parameters={"num_outputs": 2, "output_format": "webp"})
    await wait_for(api, job["id"], {"completed"})

    result = await temporal.get_workflow_handle(job["id"], result_type=GenerateMediaResult).result()
    row = await read_row(sessions, job["id"])
    metadata = await storage.get_json(metadata_key(job["id"]))
    stored = [await storage.stat(output.key) for output in result.outputs]

    assert [o.key for o in result.outputs] == [
        media_key(job["id"], 0, "webp"),
        media_key(job["id"], 1, "webp"),
    ]
    assert [o["sha256"] for o in row.outputs] == [o.sha256 for o in result.outputs]
    assert [s.size for s in stored] == [o.file_size for o in result.outputs]
    assert row.file_size == result.outputs[0].file_size
    assert row.external_job_id == result.external_job_id == metadata["external_job_id"]
    assert row.retry_count == result.retry_count == 0
    assert metadata["prompt"] == "two owls"
    assert metadata["model_name"] == "black-forest-labs/flux-schnell"
    assert metadata["parameters"] == {"num_outputs": 2, "output_format": "webp"}
    assert metadata["metrics"]["predict_time"] > 0
    assert set(metadata["timings"]) >= {"created_at", "prediction_started_at", "completed_at"}
    assert [o["sha256"] for o in metadata["outputs"]] == [o.sha256 for o in result.outputs]
    # ... and the variants of each output, as the row and the workflow have them.
    listed = [(v["name"], v["output"], v["sha256"]) for v in metadata["variants"]]
    assert listed == [(v.name, v.output, v.sha256) for v in result.variants]
    assert listed == [(v["name"], v["output"], v["sha256"]) for v in row.variants]
    assert {(name, output) for name, output, _ in listed} == {
        (name, output) for name in ("thumbnail", "preview") for output in (0, 1)
    }
    assert metadata["variant_failures"] == []


async def test_two_failed_attempts_are_counted_and_show_the_backoff(api, temporal, provider):
    job = await submit(api, "a flaky fox", parameters={"fake": {"fail_create": 2}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"})

    assert document["status"] == "completed", document["error"]
    assert document["retry_count"] == 2
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    scheduled = next(
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "start_prediction"
    )
    started = next(
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id == scheduled.event_id
    )
    policy = scheduled.activity_task_scheduled_event_attributes.retry_policy
    assert policy.initial_interval.ToSeconds() == 1
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_attempts == 5
    assert "ProviderRejected" in policy.non_retryable_error_types
    assert started.attempt == 3
    assert "503" in started.last_failure.message or "500" in started.last_failure.message


async def test_a_user_error_from_the_provider_fails_at_once(api, temporal):
    job = await submit(
        api, "a rejected fox", parameters={"fake": {"fail_create": 5, "create_status": 422}}
    )

    document, _ = await wait_for(api, job["id"], {"completed", "failed"})

    assert document["status"] == "failed"
    assert document["error"]["type"] == "ProviderRejected"
    assert document["error"]["retryable"] is False
    assert "422" in document["error"]["message"]
    assert document["retry_count"] == 0
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts[0] == 1  # start_prediction ran once: no retry


async def test_an_nsfw_prediction_fails_without_a_rerun(api):
    job = await submit(api, "[nsfw] a fox")
    document, seen = await wait_for(api, job["id"], {"completed", "failed"})
    assert document["status"] == "failed"
    assert document["error"]["type"] == "UserInputError"
    assert "NSFW" in document["error"]["message"]
    assert document["retry_count"] == 0
    assert "processing" in seen or document["started_at"] is not None


async def test_a_permanent_failure_ends_failed_with_the_error_stored(api, sessions, temporal):
    job = await submit(api, "a doomed fox", parameters={"fake": {"fail_create": 100}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=90)

    row = await read_row(sessions, job["id"])
    assert document["status"] == "failed"
    assert document["error"]["retryable"] is True
    assert document["error"]["type"] == "ProviderUnavailable"
    assert document["retry_count"] == 4  # five attempts
    assert row.error == document["error"]
    assert row.completed_at is not None
    # The row is written just before the workflow closes: wait for its end, then compare.
    handle = temporal.get_workflow_handle(job["id"])
    with pytest.raises(WorkflowFailureError) as raised:
        await handle.result()
    assert isinstance(raised.value.cause, ApplicationError)
    assert raised.value.cause.type == "ProviderUnavailable"
    assert (await handle.describe()).status.name == "FAILED"


async def test_a_slow_prediction_is_awaited_on_its_webhook_without_polls(api, temporal):
    """With a webhook coming, the workflow sleeps until it arrives: no poll in 4 s of waiting."""
    job = await submit(api, "a patient heron", parameters={"fake": {"latency": 4}})

    document, _ = await wait_for(api, job["id"], {"completed", "failed"}, within=25)

    assert document["status"] == "completed", document["error"]
    history = await temporal.get_workflow_handle(job["id"]).fetch_history()
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToSeconds()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    # The decided end is mirrored as a regular activity (a cancel then cannot undo it).
    assert activities == ["start_prediction", "store_output", "mirror_status"]
    # The `completed` webhook only: the `start` of the job's own prediction is no news (the
    # row kept it while the create waited on `Prefer: wait`, or named the prediction by then).
    assert signals == [PREDICTION_SIGNAL]
    # Only a safety-net poll of 30 s was set, cancelled by the webhook.
    assert timers
    assert set(timers) == {30}
    assert len(timers) <= len(signals)
