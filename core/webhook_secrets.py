"""Each owner's webhook signing secret, made on first use and kept.

Two first uses at once (the secret route and a job's notify) must agree on one secret:
the insert is `ON CONFLICT DO NOTHING` and both then read the row that won.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from core.models import WebhookSecret, utcnow
from core.webhook_signing import new_secret


async def webhook_secret(session: AsyncSession, owner: str) -> str:
    """The owner's secret, created if the owner has none yet (commits the session)."""
    found = await session.scalar(
        select(WebhookSecret.secret).where(col(WebhookSecret.owner) == owner)
    )
    if found is not None:
        return str(found)
    await session.execute(
        insert(WebhookSecret)
        .values(owner=owner, secret=new_secret(), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["owner"])
    )
    await session.commit()
    secret = await session.scalar(
        select(WebhookSecret.secret).where(col(WebhookSecret.owner) == owner)
    )
    assert secret is not None  # inserted by us or by the one that raced us; never deleted
    return str(secret)
