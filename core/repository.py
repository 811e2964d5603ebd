"""Reads and writes of the `jobs` table: the one place that knows its queries."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import col

from core.jobs import TERMINAL_STATUSES, JobKind, JobStatus, JobUpdate
from core.models import Job, WorkflowStart

_TERMINAL = [status.value for status in TERMINAL_STATUSES]
log = logging.getLogger(__name__)
# The PostgreSQL channel that every write of a job's status or progress notifies, with the
# job's id as payload, in the write's own transaction (so only committed changes are heard).
JOB_EVENTS_CHANNEL = "job_events"
_IDS = ARRAY(sa.String(128))


def _notify(job_id: str) -> sa.Select[tuple[object]]:
    return sa.select(sa.func.pg_notify(JOB_EVENTS_CHANNEL, job_id))


def _job_values(update: JobUpdate, result_url: str | None) -> dict[str, object]:
    """Column values for an update; None means "keep what the row has"."""
    values: dict[str, object] = {
        "status": update.status.value,
        "retry_count": update.retry_count,
        "updated_at": update.at,
    }
    if update.status is JobStatus.PROCESSING:
        values["started_at"] = update.at
    if update.status.terminal:
        values["completed_at"] = update.at
    if update.external_job_id is not None:
        values["external_job_id"] = update.external_job_id
    if update.progress is not None:
        values["progress"] = update.progress
    if update.outputs is not None:
        values["outputs"] = [output.model_dump(exclude={"attempt"}) for output in update.outputs]
        values["file_size"] = update.outputs[0].file_size if update.outputs else None
        values["result_url"] = result_url if update.outputs else None
    if update.error is not None:
        values["error"] = update.error.model_dump()
    if update.variants is not None:
        values["variants"] = [
            variant.model_dump(exclude={"attempt"}) for variant in update.variants
        ]
    if update.variant_failures is not None:
        values["variant_failures"] = [failure.model_dump() for failure in update.variant_failures]
    return values


@dataclass(frozen=True)
class Mirrored:
    """What a status mirror did: whether it wrote the row, and the predictions other than the
    one the row names whose `start` webhook the row kept (`jobs.starts_heard`: heard while
    the job was creating its own)."""

    written: bool
    starts_heard: list[str]


async def mirror_job_update(
    session: AsyncSession, update: JobUpdate, *, result_url: str | None
) -> Mirrored:
    """Upsert a status change; safe to repeat, and a terminal row never changes status again.

    It inserts the row when it is missing, so a job whose API process died between
    starting the workflow and committing the row still appears. A row already terminal is
    not written.
    """
    values = _job_values(update, result_url)
    try:
        async with session.begin_nested():
            result = await session.execute(_upsert(update, values, keyed=True))
    except IntegrityError:
        # Only a recreated row can clash: another job holds its idempotency key. The key
        # is that job's; this one is recreated without it rather than fail a paid job.
        result = await session.execute(_upsert(update, values, keyed=False))
    heard = result.scalar_one_or_none()
    if heard is not None:
        await session.execute(_notify(update.job.job_id))
    await session.commit()
    return Mirrored(written=heard is not None, starts_heard=list(heard or []))


def _upsert(
    update: JobUpdate, values: dict[str, object], *, keyed: bool
) -> ReturningInsert[list[str]]:
    """INSERT the row (recreating a lost one) or UPDATE it, never a terminal row's status."""
    job = update.job
    return (
        insert(Job)
        .values(
            {
                "id": uuid.UUID(job.job_id),
                "kind": job.kind.value,
                "prompt": job.prompt,
                "model_name": job.model_name,
                "parameters": job.parameters,
                "webhook_url": job.webhook_url,
                "owner": job.owner,
                "idempotency_key": job.idempotency_key if keyed else None,
                "request_hash": job.request_hash if keyed else None,
                "created_at": job.created_at,
                "outputs": [],
                "variants": [],
                "variant_failures": [],
                "progress": 0.0,
                "event_seq": 1,
                **values,
            }
        )
        .on_conflict_do_update(
            index_elements=[col(Job.id)],
            set_={
                **values,
                "retry_count": sa.func.greatest(col(Job.retry_count), update.retry_count),
                "event_seq": col(Job.event_seq) + 1,
            },
            # A terminal row never changes status; the same terminal update may land again
            # (a retry whose first attempt committed but was not reported) with a higher
            # retry count, which must reach the row.
            where=sa.or_(col(Job.status).not_in(_TERMINAL), col(Job.status) == update.status.value),
        )
        # The starts the row kept, but for the prediction the row names (the job's own).
        .returning(
            sa.func.array_remove(col(Job.starts_heard), col(Job.external_job_id), type_=_IDS)
        )
    )


def _owned_by(owner: str | None) -> list[sa.ColumnElement[bool]]:
    """The condition that limits a query to `owner`'s jobs; `owner=None` (an admin) sees all."""
    return [] if owner is None else [col(Job.owner) == owner]


async def get_job(session: AsyncSession, job_id: uuid.UUID, *, owner: str | None) -> Job | None:
    """The job, if `owner` may see it (`None`: any job)."""
    job = await session.get(Job, job_id)
    if job is None or (owner is not None and job.owner != owner):
        return None
    return job


async def get_job_by_idempotency_key(
    session: AsyncSession, key: str, *, owner: str | None
) -> Job | None:
    """The owner's job submitted with this Idempotency-Key (keys are per owner)."""
    owned = col(Job.owner).is_(None) if owner is None else col(Job.owner) == owner
    result = await session.execute(sa.select(Job).where(col(Job.idempotency_key) == key, owned))
    return result.scalar_one_or_none()


async def list_jobs(
    session: AsyncSession,
    *,
    owner: str | None,
    status: JobStatus | None,
    model_name: str | None,
    kind: JobKind | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Job], int]:
    """A page of `owner`'s jobs (`None`: everyone's), newest first, and how many match."""
    conditions = _owned_by(owner)
    if status is not None:
        conditions.append(col(Job.status) == status.value)
    if kind is not None:
        conditions.append(col(Job.kind) == kind.value)
    if model_name is not None:
        conditions.append(col(Job.model_name) == model_name)
    page = (
        sa.select(Job)
        .where(*conditions)
        .order_by(col(Job.created_at).desc(), col(Job.id).desc())
        .limit(limit)
        .offset(offset)
    )
    count = sa.select(sa.func.count()).select_from(Job).where(*conditions)
    rows = (await session.execute(page)).scalars().all()
    total = (await session.execute(count)).scalar_one()
    return rows, total


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    result = await session.execute(
        sa.select(col(Job.status), sa.func.count()).group_by(col(Job.status))
    )
    return {str(status): int(count) for status, count in result.tuples()}


async def list_unfinished_jobs(
    session: AsyncSession,
    *,
    updated_before: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Job]:
    """A page of jobs not terminal whose row has not changed since `updated_before`.

    Paged by (created_at, id) rather than by offset, so rows that end meanwhile (and leave
    the set) do not shift the next page; `ix_jobs_status_created_at` serves the order.
    """
    conditions = [
        col(Job.status).not_in(_TERMINAL),
        col(Job.updated_at) < updated_before,
        # A job in the start outbox has no workflow yet, and is the starters' (api/starter.py).
        ~sa.exists().where(col(WorkflowStart.job_id) == col(Job.id)),
    ]
    if after is not None:
        conditions.append(sa.tuple_(col(Job.created_at), col(Job.id)) > sa.tuple_(*after))
    page = sa.select(Job).where(*conditions).order_by(col(Job.created_at), col(Job.id)).limit(limit)
    return (await session.execute(page)).scalars().all()


async def settle_job(
    session: AsyncSession, update: JobUpdate, *, result_url: str | None
) -> list[str] | None:
    """Write the end of a job whose workflow closed without mirroring it, if the row is not terminal.

    Unlike `mirror_job_update` it never inserts, and it does not write over a terminal row
    even with the same status: a workflow that mirrored its own end knows it best (the
    precise error), and the reconciler only fills in what nobody wrote. Returns None when
    the row was not written, else the predictions the job may have left running: the one
    the row names and the starts it kept (read in the write, so none kept meanwhile is
    missed; a terminal row keeps no more).
    """
    values = _job_values(update, result_url)
    values["retry_count"] = sa.func.greatest(col(Job.retry_count), update.retry_count)
    values["event_seq"] = col(Job.event_seq) + 1
    statement = (
        sa.update(Job)
        .where(col(Job.id) == uuid.UUID(update.job.job_id), col(Job.status).not_in(_TERMINAL))
        .values(values)
        .returning(col(Job.external_job_id), col(Job.starts_heard))
    )
    written = (await session.execute(statement)).one_or_none()
    if written is not None:
        await session.execute(_notify(update.job.job_id))
    await session.commit()
    if written is None:
        return None
    own, kept = written
    return list(dict.fromkeys([*([own] if own else []), *(kept or [])]))
