"""Cancelling a job: a job not started yet never starts; a running one's workflow is
cancelled, and it cancels the provider's prediction."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import TemporalConnector
from api.starter import notify_starters
from core.jobs import JobStatus, JobUpdate
from core.models import Job, WorkflowStart, job_input, utcnow
from core.repository import mirror_job_update

log = logging.getLogger(__name__)


async def cancel_job(
    session: AsyncSession, temporal: TemporalConnector, job: Job, *, wait: float
) -> Job:
    """Cancel the job, waiting up to `wait` seconds for its workflow to finish cancelling.

    A job still in the start outbox is marked `canceled` without Temporal, in the
    transaction that takes it out of the outbox: nothing starts it afterwards. Should a
    start of it have been tried already (it may have happened with only its answer lost),
    its outbox row stays, flagged for the starter to cancel that workflow if it exists. The
    row lock waits while a starter holds the row (its start is in flight), and then finds
    it gone: the workflow exists and is cancelled like any other. Returns the job as it then is: `canceled`, or
    still `processing` if the workflow had not finished cancelling in time (it will).
    """
    unstarted = await session.scalar(
        sa.select(WorkflowStart).where(col(WorkflowStart.job_id) == job.id).with_for_update()
    )
    if unstarted is not None:
        if unstarted.attempts == 0:
            await session.delete(unstarted)
        else:  # a start was tried and may have happened: the starter cancels what it made
            unstarted.canceled, unstarted.due_at = True, utcnow()
            await session.execute(notify_starters())
        await _mark_canceled(session, job)  # commits the outbox change with the status
        log.info("job canceled before its workflow started")
    else:
        await session.commit()  # hold no connection while Temporal answers
        await _cancel_workflow(session, await temporal.get(), job, wait=wait)
    await session.refresh(job)
    return job


async def _cancel_workflow(
    session: AsyncSession, temporal: Client, job: Job, *, wait: float
) -> None:
    handle = temporal.get_workflow_handle(str(job.id))
    try:
        await handle.cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # A row with no workflow nor outbox entry (its history is gone): nothing runs it.
        log.warning("job has no workflow; marking it canceled")
        await _mark_canceled(session, job)
    else:
        # A cancelled workflow ends in WorkflowFailureError; a slow one is left to finish.
        with contextlib.suppress(WorkflowFailureError, TimeoutError):
            await asyncio.wait_for(handle.result(), timeout=wait)


async def _mark_canceled(session: AsyncSession, job: Job) -> None:
    update = JobUpdate(
        job=job_input(job), status=JobStatus.CANCELED, at=utcnow(), retry_count=job.retry_count
    )
    await mirror_job_update(session, update, result_url=None)
