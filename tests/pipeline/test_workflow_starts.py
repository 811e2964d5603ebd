"""The start outbox (api/starter.py) through the running API: what a cancel does to a job
whose workflow has not started, or whose start was tried and may have happened."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.schemas import JobCreate
from api.starter import start_workflow
from core.models import Job, WorkflowStart, utcnow
from tests.pipeline.conftest import started, wait_for

SLOW = {"fake": {"latency": 60}}


async def _outboxed(sessions, prompt: str, *, attempts: int) -> Job:
    """A job row with its outbox entry due only in ten minutes: as a submit leaves it whose
    start failed `attempts` times (and that no starter will try again during the test)."""
    job = Job(prompt=prompt, model_name=JobCreate(prompt=prompt).model_name, parameters=SLOW)
    async with sessions() as session:
        session.add(job)
        await session.flush()
        due = utcnow() + timedelta(minutes=10)
        session.add(WorkflowStart(job_id=job.id, attempts=attempts, due_at=due))
        await session.commit()
        await session.refresh(job)
    return job


async def _outbox_row(sessions, job: Job) -> WorkflowStart | None:
    session: AsyncSession
    async with sessions() as session:
        return await session.get(WorkflowStart, job.id)


async def test_a_job_never_started_is_canceled_and_never_starts(api, sessions, temporal):
    job = await _outboxed(sessions, "a fox that never left", attempts=0)

    answer = await api.delete(f"/api/v1/jobs/{job.id}")

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "canceled"
    assert await _outbox_row(sessions, job) is None
    with pytest.raises(RPCError) as missing:
        await temporal.get_workflow_handle(str(job.id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_a_cancel_after_a_tried_start_cancels_what_that_start_made(
    api, sessions, temporal, settings
):
    job = await _outboxed(sessions, "a fox whose start was tried", attempts=1)
    # The start that was tried did happen; only its answer was lost.
    await start_workflow(
        temporal, job, task_queue=settings.temporal_task_queue, limits=settings.output_limits()
    )
    await wait_for(api, str(job.id), {"processing"})

    answer = await api.delete(f"/api/v1/jobs/{job.id}")

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "canceled"
    deadline = time.monotonic() + 20
    while (description := await started(temporal, str(job.id))).status not in (
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.FAILED,
    ):
        assert time.monotonic() < deadline, f"workflow still {description.status}"
        await asyncio.sleep(0.2)
    assert description.status == WorkflowExecutionStatus.CANCELED
    assert await _outbox_row(sessions, job) is None


async def test_starting_a_started_job_again_counts_as_started(api, temporal, settings, sessions):
    submitted = await api.post("/api/v1/generate", json={"prompt": "a fox started twice"})
    job_id = submitted.json()["id"]
    first = await started(temporal, job_id)
    async with sessions() as session:
        job = await session.get(Job, uuid.UUID(job_id))
    assert job is not None

    await start_workflow(  # as a starter does after a crash between start and settle
        temporal, job, task_queue=settings.temporal_task_queue, limits=settings.output_limits()
    )

    again = await temporal.get_workflow_handle(job_id).describe()
    assert again.run_id == first.run_id
