"""The reconciler ends rows whose workflow closed without mirroring its end, and only those.

Rows are backdated past the grace period (as if a minute had passed) rather than waited on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import Client, ScheduleOverlapPolicy

from core.config import Settings
from core.jobs import GenerateMediaResult
from core.models import Job
from core.reconcile import RECONCILE_SCHEDULE_ID, ReconcileInput, ReconcileTotals
from tests.pipeline.conftest import read_row, submit, wait_for
from tests.pipeline.predictions import stray_prediction, until
from worker.schedules import ensure_reconcile_schedule
from workflows.reconcile import ReconcileJobsWorkflow

SLOW = {"fake": {"latency": 30}}
PAST_GRACE = timedelta(minutes=10)


async def change_row(sessions, job_id: str, **values) -> None:
    """Set columns of a row; `updated_at` goes back past the grace period."""
    async with sessions() as session:
        await session.execute(
            sa.update(Job)
            .where(col(Job.id) == uuid.UUID(job_id))
            .values(updated_at=datetime.now(UTC) - PAST_GRACE, **values)
        )
        await session.commit()


async def reconcile(temporal: Client, settings: Settings) -> ReconcileTotals:
    """One run of ReconcileJobs, as the schedule starts it."""
    return await temporal.execute_workflow(
        ReconcileJobsWorkflow.run,
        ReconcileInput(),
        id=f"reconcile-test-{uuid.uuid4()}",
        task_queue=settings.temporal_task_queue,
    )


async def test_a_terminated_job_is_failed_naming_the_termination_and_its_predictions_stopped(
    api, temporal, sessions, provider
):
    job = await submit(api, "a fox an operator stopped", parameters=SLOW)
    await wait_for(api, job["id"], {"processing"})
    await temporal.get_workflow_handle(job["id"]).terminate(reason="stuck on a bad node")
    # A start the row kept for the workflow, which was terminated before reading it. Its
    # webhook leads nowhere, so only the reconciler can stop it.
    stray = await stray_prediction(provider, f"http://127.0.0.1:9/{job['id']}", "kept")
    await change_row(sessions, job["id"], starts_heard=[stray["id"]])

    await temporal.get_schedule_handle(RECONCILE_SCHEDULE_ID).trigger(
        overlap=ScheduleOverlapPolicy.BUFFER_ONE  # after a run already going, not instead
    )

    document, _ = await wait_for(api, job["id"], {"completed", "failed", "canceled"}, within=30)
    assert document["status"] == "failed"
    assert document["error"] == {
        "type": "WorkflowTerminated",
        "message": "the job's workflow was terminated: stuck on a bad node",
        "retryable": True,
    }
    assert document["completed_at"] is not None
    found = await until(
        lambda ps: len(ps) == 2 and all(p["status"] == "canceled" for p in ps),
        provider,
        job["id"],
    )
    statuses = {p["id"]: p["status"] for p in found}
    assert statuses == {document["external_job_id"]: "canceled", stray["id"]: "canceled"}


def unsigned(value: Any) -> Any:
    """Outputs with their media URLs' signature taken off: each read signs them afresh."""
    if isinstance(value, list):
        return [{**output, "url": output["url"].partition("?")[0]} for output in value]
    return value


async def test_a_completed_job_whose_end_was_not_mirrored_gets_its_outputs(
    api, temporal, sessions, settings
):
    job = await submit(api, "a fox whose end was not written")
    mirrored, _ = await wait_for(api, job["id"], {"completed"})
    result = await temporal.get_workflow_handle(job["id"], result_type=GenerateMediaResult).result()
    # As if the workflow's last mirror had been lost.
    await change_row(
        sessions,
        job["id"],
        status="processing",
        outputs=[],
        result_url=None,
        file_size=None,
        completed_at=None,
        progress=0.5,
    )

    await reconcile(temporal, settings)

    document = (await api.get(f"/api/v1/status/{job['id']}")).json()
    row = await read_row(sessions, job["id"])
    assert document["status"] == "completed"
    assert [output["key"] for output in row.outputs] == [output.key for output in result.outputs]
    for field in ("outputs", "result_url", "file_size", "external_job_id", "retry_count"):
        assert unsigned(document[field]) == unsigned(mirrored[field]), field
    assert document["progress"] == 1.0
    assert document["completed_at"] is not None


async def test_running_jobs_and_rows_without_a_workflow_are_left_alone(
    api, temporal, sessions, settings
):
    running = await submit(api, "a fox still painting", parameters=SLOW)
    await wait_for(api, running["id"], {"processing"})
    await change_row(sessions, running["id"])
    orphan = Job(prompt="a row with no workflow", model_name="black-forest-labs/flux-schnell")
    async with sessions() as session:
        session.add(orphan)
        await session.commit()
    await change_row(sessions, str(orphan.id))
    try:
        totals = await reconcile(temporal, settings)

        assert (await read_row(sessions, running["id"])).status == "processing"
        assert (await read_row(sessions, str(orphan.id))).status == "pending"
        assert totals.missing >= 1
    finally:
        async with sessions() as session:
            await session.execute(sa.delete(Job).where(col(Job.id) == orphan.id))
            await session.commit()
        await api.delete(f"/api/v1/jobs/{running['id']}")


async def test_a_worker_start_updates_the_schedule_and_keeps_an_operators_pause(temporal, settings):
    handle = temporal.get_schedule_handle(RECONCILE_SCHEDULE_ID)
    await handle.pause(note="paused by a test")
    try:
        await ensure_reconcile_schedule(temporal, settings)

        description = await handle.describe()
    finally:
        await handle.unpause()
    assert description.schedule.state.paused
    assert [spec.every for spec in description.schedule.spec.intervals] == [
        timedelta(seconds=settings.reconcile_every_seconds)
    ]
