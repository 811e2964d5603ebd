"""Submitting a job of any kind: the row and the workflow are created together, or neither is."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from fastapi import HTTPException, Response, status
from pydantic import BaseModel
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
from core.image_jobs import ImageSource, ProcessImageInput
from core.jobs import PROCESS_WORKFLOW_NAME, WORKFLOW_NAME, JobKind, JobStatus, OutputLimits
from core.keys import upload_key
from core.logging import job_id_var
from core.models import Job, job_input
from core.quotas import Limits, QuotaExceeded, Standing, admit, release
from core.repository import get_job_by_idempotency_key
from core.search_attributes import JOB_KIND, JOB_STATUS, MODEL_NAME, OWNER

log = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body."""


@contextmanager
def refusals_as_http() -> Iterator[None]:
    """A submit's refusals as their answers: an Idempotency-Key conflict (409), a quota (429)."""
    try:
        yield
    except IdempotencyConflict as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"Idempotency-Key {exc} was used with a different body"
        ) from exc
    except QuotaExceeded as exc:
        headers = {**exc.standing.headers(), "Retry-After": str(exc.retry_after)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers) from exc


def accepted(response: Response, job: Job, standing: Standing | None) -> None:
    """The headers of a submit's 202: where to follow the job, and the owner's rate standing."""
    response.headers["Location"] = f"/api/v1/status/{job.id}"
    if standing is not None:
        response.headers.update(standing.headers())


def _workflow_input(job: Job, limits: OutputLimits) -> tuple[str, BaseModel, str]:
    """The workflow that runs a job, its input, and its summary in the Temporal Web UI."""
    if job.kind == JobKind.PROCESS:
        presets = [str(name) for name in job.parameters.get("variants", [])]
        source = ImageSource(output=0, key=upload_key(str(job.id)))
        process = ProcessImageInput(
            job=job_input(job, limits), sources=[source], presets=presets, own_job=True
        )
        filename = str(job.parameters.get("filename", ""))
        return PROCESS_WORKFLOW_NAME, process, f"upload: {filename[:120]}"
    return WORKFLOW_NAME, job_input(job, limits), f"{job.model_name}: {job.prompt[:120]}"


async def start_workflow(
    temporal: Client, job: Job, *, task_queue: str, limits: OutputLimits
) -> None:
    """Start the job's workflow (by its kind); its id is the job id, so a second start is
    refused."""
    attributes = [
        SearchAttributePair(JOB_STATUS, JobStatus.PENDING.value),
        SearchAttributePair(JOB_KIND, job.kind),
    ]
    if job.model_name:  # a process job has no model
        attributes.append(SearchAttributePair(MODEL_NAME, job.model_name))
    if job.owner is not None:
        attributes.append(SearchAttributePair(OWNER, job.owner))
    workflow, arg, summary = _workflow_input(job, limits)
    await temporal.start_workflow(
        workflow,
        arg,
        id=str(job.id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(attributes),
        memo={"prompt": job.prompt},
        static_summary=summary,
    )


def _limits(caller: Caller, settings: Settings) -> Limits:
    """The caller's quotas: its key's own, else the service's."""
    return Limits(
        per_minute=caller.rate_limit_per_minute or settings.submit_rate_limit_per_minute,
        max_active=caller.max_active_jobs or settings.max_active_jobs_per_owner,
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
    """Record the caller's generation job and start its workflow (`record_and_start`).

    An Idempotency-Key replay returns the job it made before; a `webhook_url` the worker
    would refuse is a 422 with nothing written.
    """
    fingerprint = request.fingerprint()
    if idempotency_key is not None:
        existing = await replay(session, caller.owner, idempotency_key, fingerprint)
        if existing is not None:
            return existing, None
        await session.rollback()  # hold no connection while the webhook's host resolves
    if request.webhook_url is not None:
        await check_webhook_url(request.webhook_url, settings)  # a 422, nothing written
    job = Job(
        owner=caller.owner,
        prompt=request.prompt,
        model_name=request.model_name,
        parameters=request.parameters,
        webhook_url=request.webhook_url,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
    )
    return await record_and_start(session, temporal, job, caller=caller, settings=settings)


async def record_and_start(
    session: AsyncSession,
    temporal: Client,
    job: Job,
    *,
    caller: Caller,
    settings: Settings,
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Job, Standing | None]:
    """Record a new job (of any kind) and start its workflow; returns the job and, when it is
    new, where its owner stands against the submit rate (None: an Idempotency-Key replay).

    The row is inserted in a transaction that commits only after the workflow has
    started: if the start fails the row is rolled back (503, nothing half-made); if the
    process dies after the start, the workflow's first status upsert creates the row; if
    the commit fails, the workflow is stopped unless the row turns out to be there. The
    owner's quotas are checked first, in a short transaction of their own that reserves
    the job's slot (`core.quotas.admit`); a submit over them raises QuotaExceeded with
    nothing written. `prepare` runs once the job is admitted, before its row is written
    (an upload stores its file then); should it raise, the reservation is given back. The
    job's transaction deletes the reservation as it commits.
    """
    owner = caller.owner
    key, fingerprint = job.idempotency_key, job.request_hash or ""
    job_id_var.set(str(job.id))
    job_id = job.id
    try:
        standing = await admit(session, owner, _limits(caller, settings), job_id)
    except QuotaExceeded:
        # A request with the same key may have been admitted (and taken the last slot) first.
        if key is not None:
            existing = await replay(session, owner, key, fingerprint)
            if existing is not None:
                return existing, None
        raise
    if prepare is not None:
        try:
            await prepare()
        except BaseException:
            await _give_back(session, job_id)
            raise
    session.add(job)
    try:
        await session.flush()
    except IntegrityError:  # the same key raced us
        await _give_back(session, job_id)
        existing = None
        if key is not None:
            existing = await replay(session, owner, key, fingerprint)
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
    log.info("job submitted", extra={"model_name": job.model_name, "kind": job.kind})
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


async def replay(session: AsyncSession, owner: str, key: str, fingerprint: str) -> Job | None:
    """The owner's job made with this Idempotency-Key, if any; IdempotencyConflict if it was
    made from another body."""
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
