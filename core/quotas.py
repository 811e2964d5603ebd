"""Per-owner quotas, held in PostgreSQL so that every API process shares them.

A submit takes one token from the owner's bucket (refilled at the per-minute rate, holding at
most one minute's worth) and needs fewer than the owner's cap of jobs pending or processing.
Both are checked in the submit's own transaction while it holds the owner's `owner_quotas`
row lock, so concurrent submits of one owner (on any API process) are admitted one at a time
and cannot slip past either limit together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.jobs import JobStatus
from core.models import Job, OwnerQuota, utcnow

ACTIVE = [JobStatus.PENDING.value, JobStatus.PROCESSING.value]
# When the active-job cap is reached, nothing says when a job will end: ask again after this.
ACTIVE_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """The limits a submit is held to (the key's overrides, else the settings')."""

    per_minute: int
    max_active: int


@dataclass(frozen=True)
class Standing:
    """Where the owner stands after a check: the `RateLimit-*` headers' values."""

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


async def admit(
    session: AsyncSession, owner: str, limits: Limits, now: datetime | None = None
) -> Standing:
    """Take a submit token for `owner` inside the caller's transaction, or raise QuotaExceeded.

    The row lock taken here is held until that transaction ends: the caller commits (or
    rolls back) the job it inserts under it.
    """
    capacity = float(limits.per_minute)
    await session.execute(
        insert(OwnerQuota)
        .values(owner=owner, tokens=capacity, refilled_at=now or utcnow())
        .on_conflict_do_nothing(index_elements=[col(OwnerQuota.owner)])
    )
    stored_tokens, refilled_at = (
        await session.execute(
            sa.select(col(OwnerQuota.tokens), col(OwnerQuota.refilled_at))
            .where(col(OwnerQuota.owner) == owner)
            .with_for_update()
        )
    ).one()
    now = now or utcnow()  # read once the lock is ours: the wait for it counts as refill
    per_second = capacity / 60
    elapsed = max(0.0, (now - refilled_at).total_seconds())
    tokens = min(capacity, stored_tokens + elapsed * per_second)
    if tokens < 1:
        wait = math.ceil((1 - tokens) / per_second)
        standing = Standing(limits.per_minute, 0, wait)
        raise QuotaExceeded(
            f"over the submit rate of {limits.per_minute} per minute", standing, wait
        )
    active = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Job)
        .where(col(Job.owner) == owner, col(Job.status).in_(ACTIVE))
    )
    if (active or 0) >= limits.max_active:
        standing = Standing(limits.max_active, 0, ACTIVE_RETRY_SECONDS)
        raise QuotaExceeded(
            f"{active} jobs are pending or processing, the most allowed at once is"
            f" {limits.max_active}: wait for one to end",
            standing,
            ACTIVE_RETRY_SECONDS,
        )
    tokens -= 1
    await session.execute(
        sa.update(OwnerQuota)
        .where(col(OwnerQuota.owner) == owner)
        .values(tokens=tokens, refilled_at=now)
    )
    full_in = math.ceil((capacity - tokens) / per_second)
    return Standing(limits.per_minute, math.floor(tokens), full_in)
