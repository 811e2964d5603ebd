"""Per-owner quotas, held in PostgreSQL so that every API process shares them.

A submit takes one token from the owner's bucket (refilled at the per-minute rate, holding at
most one minute's worth) and needs fewer than the owner's cap of jobs pending or processing.
Admission is one call of the database function `admit_submit` (migration 0007) in a
transaction of its own, under the owner's `owner_quotas` row lock: concurrent submits of
one owner (on any API process) are admitted one at a time, each holding the lock for that
call and its COMMIT only, never while its job is written. An admitted submit leaves a
reservation that counts as an active job until the transaction committing the job deletes
it; a submit that dies in between frees its slot when the reservation expires, and one that
fails or loses to a replay gives its slot and its token back.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.jobs import JobStatus
from core.models import OwnerQuota, QuotaReservation

ACTIVE = [JobStatus.PENDING.value, JobStatus.PROCESSING.value]
# When the active-job cap is reached, nothing says when a job will end: ask again after this.
ACTIVE_RETRY_SECONDS = 5
# A submit commits its job within seconds of admission (its Temporal calls time out in 5 s).
RESERVATION_TTL = timedelta(seconds=60)
# The admission itself (migration 0007): refusal ('rate', 'active' or NULL), tokens left,
# active jobs counted.
_ADMIT_SUBMIT = sa.text(
    "SELECT refusal, tokens, active"
    " FROM admit_submit(:owner, :per_minute, :max_active, :active, :job_id, :ttl)"
)


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
    refused): one call of the database's `admit_submit` (migration 0007), which holds the
    owner's lock only while it runs and the COMMIT. The caller deletes the reservation
    (`release`) in the transaction that commits the job.
    """
    per_second = limits.per_minute / 60
    try:
        refusal, tokens, active = (
            await session.execute(
                _ADMIT_SUBMIT,
                {
                    "owner": owner,
                    "per_minute": limits.per_minute,
                    "max_active": limits.max_active,
                    "active": ACTIVE,
                    "job_id": job_id,
                    "ttl": RESERVATION_TTL,
                },
            )
        ).one()
        if refusal == "rate":
            wait = math.ceil((1 - tokens) / per_second)
            raise QuotaExceeded(
                f"over the submit rate of {limits.per_minute} per minute: retry in {wait} s",
                Standing(limits.per_minute, 0, wait),
                wait,
            )
        if refusal == "active":
            raise QuotaExceeded(
                f"{active} jobs are pending or processing, the most allowed at once is"
                f" {limits.max_active}: wait for one to end",
                Standing(limits.max_active, 0, ACTIVE_RETRY_SECONDS),
                ACTIVE_RETRY_SECONDS,
            )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    full_in = math.ceil((limits.per_minute - tokens) / per_second)
    return Standing(limits.per_minute, math.floor(tokens), full_in)


async def release(session: AsyncSession, job_id: uuid.UUID) -> None:
    """Delete a submit's reservation, in the caller's transaction."""
    await session.execute(sa.delete(QuotaReservation).where(col(QuotaReservation.job_id) == job_id))


async def give_back(session: AsyncSession, owner: str, limits: Limits, job_id: uuid.UUID) -> None:
    """Undo an admission whose job was not recorded (a replay won, or the submit failed):
    free its slot and refund its token, up to a full bucket, in the caller's transaction.
    Only while the reservation is there: the transaction that records the job deletes it, so
    a job whose commit went through after all keeps its token spent, and a repeat refunds
    nothing."""
    freed = await session.scalar(
        sa.delete(QuotaReservation)
        .where(col(QuotaReservation.job_id) == job_id)
        .returning(col(QuotaReservation.job_id))
    )
    if freed is None:
        return
    await session.execute(
        sa.update(OwnerQuota)
        .where(col(OwnerQuota.owner) == owner)
        .values(tokens=sa.func.least(col(OwnerQuota.tokens) + 1, limits.per_minute))
    )
