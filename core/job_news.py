"""What a job's row hears between its status changes, outside the workflow's mirror: its
progress (from the provider's logs or the variants stored), and the `start` webhooks of
predictions heard before the job knew its own (migration 0008)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from core.db import SessionFactory
from core.jobs import JobKind, JobStatus
from core.models import Job
from core.repository import JOB_EVENTS_CHANNEL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartHeard:
    """A `start` webhook's fate: kept on the row for the workflow to read, or not (the row
    has its own prediction already, `current`, or there is no such pending row)."""

    kept: bool
    current: str | None


async def hear_start(sessions: SessionFactory, job_id: uuid.UUID, prediction_id: str) -> StartHeard:
    """Keep a `start` on the row of a job still creating its prediction, in one statement.

    Kept only while the row is `pending` with no prediction of its own: the workflow's
    `processing` mirror, which names its prediction, returns the list (its UPDATE waits for
    this one's lock, and this one's condition is checked again after a wait), so a start
    is either read by the workflow there or not kept here. Repeats are kept once.
    """
    kept = (
        sa.update(Job)
        .where(
            col(Job.id) == job_id,
            col(Job.status) == JobStatus.PENDING.value,
            col(Job.external_job_id).is_(None),
        )
        .values(
            starts_heard=sa.case(
                (
                    sa.literal(prediction_id) == sa.func.any(col(Job.starts_heard)),
                    col(Job.starts_heard),
                ),
                else_=sa.func.array_append(col(Job.starts_heard), prediction_id),
            )
        )
        .returning(col(Job.id))
        .cte("kept")
    )
    statement = sa.select(
        sa.select(sa.func.count()).select_from(kept).scalar_subquery(),
        sa.select(col(Job.external_job_id)).where(col(Job.id) == job_id).scalar_subquery(),
    )
    async with sessions() as session, session.begin():
        count, current = (await session.execute(statement)).one()
    return StartHeard(kept=bool(count), current=current)


async def record_progress(
    sessions: SessionFactory, job_id: uuid.UUID, prediction_id: str, progress: float
) -> None:
    """Raise a processing job's progress to `progress` (never lower it), in one statement.

    Only the row of a `processing` job whose current prediction is `prediction_id` is
    touched: a pending or ended row, or another prediction's logs (an orphan's), never
    are. An increase bumps `event_seq`; the job's listeners are notified in the same
    statement. Best effort: progress is a hint, and neither the poll nor the provider's
    webhook that carries it may fail for it, so a failed write is logged, not raised.
    """
    await _raise_progress(sessions, job_id, progress, col(Job.external_job_id) == prediction_id)


async def upload_presets(sessions: SessionFactory, job_id: uuid.UUID) -> list[str] | None:
    """The presets an upload's job asked for, while it is processing; else None.

    None also for a generate job, whose image outputs get variants too: its progress is
    the provider's, and variants must not move it.
    """
    query = sa.select(col(Job.parameters)).where(
        col(Job.id) == job_id,
        col(Job.kind) == JobKind.PROCESS.value,
        col(Job.status) == JobStatus.PROCESSING.value,
    )
    async with sessions() as session:
        parameters = (await session.execute(query)).scalar_one_or_none()
    wanted = (parameters or {}).get("variants")
    return [str(name) for name in wanted] if isinstance(wanted, list) and wanted else None


async def record_upload_progress(
    sessions: SessionFactory, job_id: uuid.UUID, progress: float
) -> None:
    """Raise a processing upload's progress (its share of variants stored), as record_progress."""
    await _raise_progress(sessions, job_id, progress, col(Job.kind) == JobKind.PROCESS.value)


async def _raise_progress(
    sessions: SessionFactory,
    job_id: uuid.UUID,
    progress: float,
    condition: sa.ColumnElement[bool],
) -> None:
    """Raise the progress of a processing job's row that meets `condition`, and notify."""
    new = sa.literal(progress, sa.Float)
    raised = (
        sa.update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.PROCESSING.value, condition)
        .values(
            progress=sa.func.greatest(col(Job.progress), new),
            event_seq=col(Job.event_seq) + sa.case((col(Job.progress) < new, 1), else_=0),
        )
        .returning(col(Job.id))
        .cte("raised")
    )
    # The notification is sent for a matched row even when the progress did not rise: a
    # listener re-reads the row and finds nothing new, which costs less than a second query.
    statement = sa.select(sa.func.pg_notify(JOB_EVENTS_CHANNEL, sa.cast(raised.c.id, sa.Text)))
    try:
        async with sessions() as session, session.begin():
            await session.execute(statement)
    except SQLAlchemyError as exc:
        log.warning("progress of job %s not written: %s", job_id, type(exc).__name__)
