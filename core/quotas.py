"""Per-owner quotas, held in PostgreSQL so that every API process shares them.

A submit takes one token from the owner's bucket (refilled at the per-minute rate, holding at
most one minute's worth) and needs fewer than the owner's cap of jobs pending or processing.
Admission is a short transaction of its own under the owner's `owner_quotas` row lock, so
concurrent submits of one owner (on any API process) are admitted one at a time, yet none
holds the lock while its workflow starts. An admitted submit leaves a reservation that
counts as an active job until the transaction committing the job deletes it; a submit
that dies in between frees its slot when the reservation expires.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.jobs import JobStatus
from core.models import Job, OwnerQuota, QuotaReservation

ACTIVE = [JobStatus.PENDING.value, JobStatus.PROCESSING.value]
# When the active-job cap is reached, nothing says when a job will end: ask again after this.
ACTIVE_RETRY_SECONDS = 5
# A submit commits its job within seconds of admission (its Temporal calls time out in 5 s).
RESERVATION_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class Limits:
    """The limits a submit is held to (the key's overrides, else the settings')."""

    per_minute: int
    max_active: int


@dataclass(frozen=True)
class Standing:
    """Where the owner stands against the limit a check names: the `RateLimit-*` headers."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class QuotaExceeded(Exception):
    """A submit over the owner's rate or active-job cap; nothing was written."""

    def __init__(self, reason: str, standing: Standing, retry_after: int) -> None:
        super().__init__(reason)
        self.standing = standing
        self.retry_after = retry_after


async def admit(session: AsyncSession, owner: str, limits: Limits, job_id: uuid.UUID) -> Standing:
    """Take a submit token and reserve an active-job slot for `job_id`, or raise QuotaExceeded.

    Runs and ends a transaction of its own on `session` (committed, or rolled back when
    refused). The caller deletes the reservation (`release`) in the transaction that
    commits the job.
    """
    capacity = float(limits.per_minute)
    try:
        await session.execute(
            insert(OwnerQuota)
            .values(owner=owner, tokens=capacity, refilled_at=sa.func.clock_timestamp())
            .on_conflict_do_nothing(index_elements=[col(OwnerQuota.owner)])
        )
        stored_tokens, refilled_at = (
            await session.execute(
                sa.select(col(OwnerQuota.tokens), col(OwnerQuota.refilled_at))
                .where(col(OwnerQuota.owner) == owner)
                .with_for_update()
            )
        ).one()
        # The database's clock, read once the lock is ours (the wait counts as refill): every
        # API process then measures the bucket by one clock.
        now: datetime = (await session.execute(sa.select(sa.func.clock_timestamp()))).scalar_one()
        per_second = capacity / 60
        elapsed = max(0.0, (now - refilled_at).total_seconds())
        tokens = min(capacity, stored_tokens + elapsed * per_second)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / per_second)
            raise QuotaExceeded(
                f"over the submit rate of {limits.per_minute} per minute: retry in {wait} s",
                Standing(limits.per_minute, 0, wait),
                wait,
            )
        await _check_active(session, owner, limits.max_active, now)
        tokens -= 1
        await session.execute(
            sa.update(OwnerQuota)
            .where(col(OwnerQuota.owner) == owner)
            .values(tokens=tokens, refilled_at=now)
        )
        session.add(QuotaReservation(job_id=job_id, owner=owner, expires_at=now + RESERVATION_TTL))
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    full_in = math.ceil((capacity - tokens) / per_second)
    return Standing(limits.per_minute, math.floor(tokens), full_in)


async def _check_active(session: AsyncSession, owner: str, cap: int, now: datetime) -> None:
    """Raise QuotaExceeded if the owner's active jobs and live reservations reach `cap`."""
    await session.execute(
        sa.delete(QuotaReservation).where(
            col(QuotaReservation.owner) == owner, col(QuotaReservation.expires_at) <= now
        )
    )
    jobs = sa.select(sa.func.count()).where(col(Job.owner) == owner, col(Job.status).in_(ACTIVE))
    reserved = sa.select(sa.func.count()).where(col(QuotaReservation.owner) == owner)
    # One statement, one snapshot: counted apart, a submit that commits in between (its
    # reservation gone, its job there) would be seen in neither count.
    both = sa.select(jobs.scalar_subquery() + reserved.scalar_subquery())
    active = await session.scalar(both) or 0
    if active >= cap:
        raise QuotaExceeded(
            f"{active} jobs are pending or processing, the most allowed at once is {cap}:"
            " wait for one to end",
            Standing(cap, 0, ACTIVE_RETRY_SECONDS),
            ACTIVE_RETRY_SECONDS,
        )


async def release(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Delete a submit's reservation, in the caller's transaction."""
    await session.execute(sa.delete(QuotaReservation).where(col(QuotaReservation.job_id) == job_id))
