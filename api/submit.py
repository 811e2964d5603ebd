"""Submitting a job: the row and the workflow are created together, or neither is."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from api.deps import DependencyUnavailable
from api.schemas import JobCreate
from core.jobs import WORKFLOW_NAME, GenerateMediaInput, JobStatus, OutputLimits
from core.logging import job_id_var
from core.models import Job
from core.repository import get_job_by_idempotency_key
from core.search_attributes import JOB_STATUS, MODEL_NAME

log = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


def workflow_input(job: Job, limits: OutputLimits | None = None) -> GenerateMediaInput:
    """The workflow's input for a job row (held to `limits`, else the defaults)."""
    return GenerateMediaInput(
        job_id=str(job.id),
        prompt=job.prompt,
        model_name=job.model_name,
        parameters=job.parameters,
        webhook_url=job.webhook_url,
        created_at=job.created_at,
        idempotency_key=job.idempotency_key,
        request_hash=job.request_hash,
        limits=limits or OutputLimits(),
    )


async def start_workflow(
    temporal: Client, job: Job, *, task_queue: str, limits: OutputLimits
) -> None:
    """Start the job's workflow; its id is the job id, so a second start is refused."""
    await temporal.start_workflow(
        WORKFLOW_NAME,
        workflow_input(job, limits),
        id=str(job.id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(JOB_STATUS, JobStatus.PENDING.value),
                SearchAttributePair(MODEL_NAME, job.model_name),
            ]
        ),
        memo={"prompt": job.prompt},
        static_summary=f"{job.model_name}: {job.prompt[:120]}",
    )


async def submit_job(
    session: AsyncSession,
    temporal: Client,
    request: JobCreate,
    *,
    task_queue: str,
    idempotency_key: str | None,
    limits: OutputLimits,
) -> tuple[Job, bool]:
    """Record the job and start its workflow; returns the job and whether it is new.

    The row is inserted in a transaction that commits only after the workflow has
    started: if the start fails the row is rolled back (503, nothing half-made); if the
    process dies after the start, the workflow's first status upsert creates the row; if
    the commit fails, the workflow is stopped unless the row turns out to be there.
    """
    fingerprint = request.fingerprint()
    if idempotency_key is not None:
        existing = await _replay(session, idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
    job = Job(
        prompt=request.prompt,
        model_name=request.model_name,
        parameters=request.parameters,
        webhook_url=request.webhook_url,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
    )
    job_id_var.set(str(job.id))
    session.add(job)
    try:
        await session.flush()
    except IntegrityError:  # the same key raced us
        await session.rollback()
        assert idempotency_key is not None
        existing = await _replay(session, idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing, False
    try:
        await start_workflow(temporal, job, task_queue=task_queue, limits=limits)
    except Exception as exc:
        await session.rollback()
        raise DependencyUnavailable(f"could not start the job's workflow: {exc}") from exc
    job_id = job.id
    try:
        await session.commit()
    except Exception:
        # The COMMIT may have gone through with only its answer lost (the connection
        # dropped): then the job stands, and stopping its workflow would leave the
        # committed row pending forever.
        looked, committed = await _committed_row(session, job_id)
        if committed is not None:
            log.warning("the commit raised, but the job's row is there: the job stands")
            return committed, True
        await _abandon(temporal, job_id, row_may_exist=not looked)
        raise
    log.info("job submitted", extra={"model_name": job.model_name})
    return job, True


async def _replay(session: AsyncSession, key: str, fingerprint: str) -> Job | None:
    existing = await get_job_by_idempotency_key(session, key)
    if existing is not None and existing.request_hash != fingerprint:
        raise IdempotencyConflict(key)
    return existing


async def _committed_row(session: AsyncSession, job_id: uuid.UUID) -> tuple[bool, Job | None]:
    """After a COMMIT that raised: whether the row could be looked up, and the row if it is there."""
    try:
        await session.rollback()
        row = await session.scalar(sa.select(Job).where(col(Job.id) == job_id))
    except Exception:
        log.warning("could not tell whether the job's row was committed", exc_info=True)
        return False, None
    return True, row


async def _abandon(temporal: Client, job_id: uuid.UUID, *, row_may_exist: bool) -> None:
    """The row was not committed after the start: stop the workflow, best effort.

    When nobody could tell whether the row was committed, the workflow is cancelled rather
    than terminated: it then records the job as canceled itself (creating or updating the
    row once the database answers), so a row that was committed never stays pending.
    Should stopping fail, the workflow's own status upsert creates the row and the job runs:
    it is never invisible, nor stuck.
    """
    handle = temporal.get_workflow_handle(str(job_id))
    try:
        if row_may_exist:
            await handle.cancel()
        else:
            await handle.terminate(reason="the job row was not committed")
    except Exception:
        log.exception("could not stop the workflow of an uncommitted job")
