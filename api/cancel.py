"""Cancelling a job: the workflow is cancelled, and it cancels the provider's prediction."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from core.jobs import JobStatus, JobUpdate
from core.models import Job, job_input, utcnow
from core.repository import mirror_job_update

log = logging.getLogger(__name__)


async def cancel_job(session: AsyncSession, temporal: Client, job: Job, *, wait: float) -> Job:
    """Request cancellation and wait up to `wait` seconds for the workflow to finish it.

    Returns the job as it then is: `canceled`, or still `processing` if the workflow had
    not finished cancelling in time (it will).
    """
    handle = temporal.get_workflow_handle(str(job.id))
    try:
        await handle.cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # A row with no workflow (it never started, or its history is gone): nothing runs it.
        log.warning("job has no workflow; marking it canceled")
        update = JobUpdate(
            job=job_input(job),
            status=JobStatus.CANCELED,
            at=utcnow(),
            retry_count=job.retry_count,
        )
        await mirror_job_update(session, update, result_url=None)
    else:
        # A cancelled workflow ends in WorkflowFailureError; a slow one is left to finish.
        with contextlib.suppress(WorkflowFailureError, TimeoutError):
            await asyncio.wait_for(handle.result(), timeout=wait)
    await session.refresh(job)
    return job
