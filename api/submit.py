"""Submitting a job of any kind: its row and its workflow's start are committed together.

The start itself is the starters' (api/starter.py): a submit never waits on Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import sqlalchemy as sa
from fastapi import HTTPException, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.auth import Caller
from api.schemas import JobCreate
from api.starter import notify_starters
from api.webhook_urls import check_webhook_url
from core.config import Settings
from core.logging import job_id_var
from core.models import Job, WorkflowStart
from core.quotas import Limits, QuotaExceeded, Standing, admit, give_back, release
from core.repository import get_job_by_idempotency_key

log = logging.getLogger(__name__)


# One admission per owner at a time in this process (`_admitting`).
_ADMISSIONS: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


@asynccontextmanager
async def _admitting(owner: str) -> AsyncIterator[None]:
    """Wait here, holding no database connection, for this owner's earlier admissions.

    `core.quotas.admit` serialises an owner's admissions on its quota row's lock; a burst of
    one owner's submits waiting there would each hold a pooled connection, and the burst
    would take the pool from every other request (which then time out as if the database
    were down). So they queue in the process first, and take a connection in turn.
    """
    lock = _ADMISSIONS.get(owner)
    if lock is None:
        lock = _ADMISSIONS[owner] = asyncio.Lock()
    async with lock:
        yield


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


def _limits(caller: Caller, settings: Settings) -> Limits:
    """The caller's quotas: its key's own, else the service's."""
    return Limits(
        per_minute=caller.rate_limit_per_minute or settings.submit_rate_limit_per_minute,
        max_active=caller.max_active_jobs or settings.max_active_jobs_per_owner,
    )


async def submit_job(
    session: AsyncSession,
    request: JobCreate,
    *,
    caller: Caller,
    settings: Settings,
    idempotency_key: str | None,
) -> tuple[Job, Standing | None]:
    """Record the caller's generation job and its workflow's start (`record_job`).

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
    return await record_job(session, job, caller=caller, settings=settings)


async def record_job(
    session: AsyncSession,
    job: Job,
    *,
    caller: Caller,
    settings: Settings,
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Job, Standing | None]:
    """Record a new job (of any kind) and its workflow's start; returns the job and, when
    it is new, where its owner stands against the submit rate (None: an Idempotency-Key
    replay).

    The row and its `workflow_starts` entry are committed in one transaction, which also
    wakes the starters (api/starter.py): the job is accepted once it commits, whatever
    Temporal's state, and a process that dies before the commit leaves nothing. Should the
    COMMIT raise, the row is looked up: its answer may have been all that was lost. The
    owner's quotas are checked first, in a short transaction of their own that reserves
    the job's slot (`core.quotas.admit`); a submit over them raises QuotaExceeded with
    nothing written. `prepare` runs once the job is admitted, before its row is written
    (an upload stores its file then). The job's transaction deletes the reservation as it
    commits; a submit that fails after admission, or loses to a replay of its key, gives the
    slot and the token back.
    """
    owner, limits = caller.owner, _limits(caller, settings)
    key, fingerprint = job.idempotency_key, job.request_hash or ""
    job_id_var.set(str(job.id))
    job_id = job.id

    try:
        async with _admitting(owner):
            standing = await admit(session, owner, limits, job_id)
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
            await _give_back(session, owner, limits, job_id)
            raise
    session.add(job)
    try:
        await session.flush()
    except IntegrityError:  # the same key raced us
        await _give_back(session, owner, limits, job_id)
        existing = None
        if key is not None:
            existing = await replay(session, owner, key, fingerprint)
        if existing is None:
            raise
        return existing, None
    session.add(WorkflowStart(job_id=job_id))
    try:
        await release(session, job_id)
        await session.execute(notify_starters())
        await session.commit()
    except Exception:
        committed = await _committed_row(session, job_id)
        if committed is None:
            await _give_back(session, owner, limits, job_id)
            raise
        log.warning("the commit raised, but the job's row is there: the job stands")
        return committed, standing
    log.info("job submitted", extra={"model_name": job.model_name, "kind": job.kind})
    return job, standing


async def _give_back(session: AsyncSession, owner: str, limits: Limits, job_id: uuid.UUID) -> None:
    """Roll back the job's transaction, then give its slot and token back (`give_back`); a
    database that cannot be reached keeps the token, and the slot expires."""
    try:
        await session.rollback()
        await give_back(session, owner, limits, job_id)
        await session.commit()
    except Exception:
        log.warning("could not give the job's quota back; its slot expires", exc_info=True)
        with contextlib.suppress(Exception):  # the caller's own error is the one to raise
            await session.rollback()


async def replay(session: AsyncSession, owner: str, key: str, fingerprint: str) -> Job | None:
    """The owner's job made with this Idempotency-Key, if any; IdempotencyConflict if it was
    made from another body."""
    existing = await get_job_by_idempotency_key(session, key, owner=owner)
    if existing is not None and existing.request_hash != fingerprint:
        raise IdempotencyConflict(key)
    return existing


async def _committed_row(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """After a COMMIT that raised: the row, if the commit went through (and it can be read)."""
    try:
        await session.rollback()
        return await session.scalar(sa.select(Job).where(col(Job.id) == job_id))
    except Exception:
        log.warning("could not tell whether the job's row was committed", exc_info=True)
        return None
