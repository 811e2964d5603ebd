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

from api.auth import Caller
from api.deps import DependencyUnavailable
from api.schemas import JobCreate
from api.webhook_urls import check_webhook_url
from core.config import Settings
from core.jobs import WORKFLOW_NAME, JobStatus, OutputLimits
from core.logging import job_id_var
from core.models import Job, job_input
from core.quotas import Limits, QuotaExceeded, Standing, admit, release
from core.repository import get_job_by_idempotency_key
from core.search_attributes import JOB_STATUS, MODEL_NAME, OWNER

log = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


async def start_workflow(
    temporal: Client, job: Job, *, task_queue: str, limits: OutputLimits
) -> None:
    """Start the job's workflow; its id is the job id, so a second start is refused."""
    attributes = [
        SearchAttributePair(JOB_STATUS, JobStatus.PENDING.value),
        SearchAttributePair(MODEL_NAME, job.model_name),
    ]
    if job.owner is not None:
        attributes.append(SearchAttributePair(OWNER, job.owner))
    await temporal.start_workflow(
        WORKFLOW_NAME,
        job_input(job, limits),
        id=str(job.id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(attributes),
        memo={"prompt": job.prompt},
        static_summary=f"{job.model_name}: {job.prompt[:120]}",
    )


async def submit_job(
    session: AsyncSession,
    temporal: Client,
    request: JobCreate,
    *,
    caller: Caller,
    settings: Settings,
    idempotency_key: str | None,
) -> tuple[Job, Standing | None]:
    """Record the caller's job and start its workflow; returns the job and, when it is new,
    where its owner stands against the submit rate (None: an Idempotency-Key replay).

    The row is inserted in a transaction that commits only after the workflow has
    started: if the start fails the row is rolled back (503, nothing half-made); if the
    process dies after the start, the workflow's first status upsert creates the row; if
    the commit fails, the workflow is stopped unless the row turns out to be there. The
    owner's quotas are checked first, in a short transaction of their own that reserves
    the job's slot (`core.quotas.admit`); a submit over them raises QuotaExceeded with
    nothing written, and so does a `webhook_url` the worker would refuse (a 422). The
    job's transaction deletes the reservation as it commits.
    """
    fingerprint = request.fingerprint()
    owner = caller.owner
    if idempotency_key is not None:
        existing = await _replay(session, owner, idempotency_key, fingerprint)
        if existing is not None:
            return existing, None
        await session.rollback()  # hold no connection while the webhook's host resolves
    if request.webhook_url is not None:
        await check_webhook_url(request.webhook_url, settings)  # a 422, nothing written
    limits = Limits(
        per_minute=caller.rate_limit_per_minute or settings.submit_rate_limit_per_minute,
        max_active=caller.max_active_jobs or settings.max_active_jobs_per_owner,
    )
    job = Job(
        owner=owner,
        prompt=request.prompt,
        model_name=request.model_name,
        parameters=request.parameters,
        webhook_url=request.webhook_url,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
    )
    job_id_var.set(str(job.id))
    job_id = job.id
    try:
        standing = await admit(session, owner, limits, job_id)
    except QuotaExceeded:
        # A request with the same key may have been admitted (and taken the last slot) first.
        if idempotency_key is not None:
            existing = await _replay(session, owner, idempotency_key, fingerprint)
            if existing is not None:
                return existing, None
        raise
    session.add(job)
    try:
        await session.flush()
    except IntegrityError:  # the same key raced us
        await _give_back(session, job_id)
        existing = None
        if idempotency_key is not None:
            existing = await _replay(session, owner, idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing, None
    try:
        await start_workflow(
            temporal, job, task_queue=settings.temporal_task_queue, limits=settings.output_limits()
        )
    except Exception as exc:
        await _give_back(session, job_id)
        raise DependencyUnavailable(f"could not start the job's workflow: {exc}") from exc
    try:
        await release(session, job_id)
        await session.commit()
    except Exception:
        # The COMMIT may have gone through with only its answer lost (the connection
        # dropped): then the job stands, and stopping its workflow would leave the
        # committed row pending forever.
        looked, committed = await _committed_row(session, job_id)
        if committed is not None:
            log.warning("the commit raised, but the job's row is there: the job stands")
            return committed, standing
        await _abandon(temporal, job_id, row_may_exist=not looked)
        raise
    log.info("job submitted", extra={"model_name": job.model_name})
    return job, standing


async def _give_back(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Roll back the job's transaction and free its reservation (else it expires)."""
    await session.rollback()
    try:
        await release(session, job_id)
        await session.commit()
    except Exception:
        log.warning("could not free the job's quota reservation; it expires", exc_info=True)
        await session.rollback()


async def _replay(session: AsyncSession, owner: str, key: str, fingerprint: str) -> Job | None:
    existing = await get_job_by_idempotency_key(session, key, owner=owner)
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
