"""API keys: minting, lookup, listing and revocation, against the `api_keys` table.

A key reads `mg_<public id>_<secret>`. The public id names the row; only the SHA-256 of the
secret is stored, so the key is shown once, when it is made, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.models import ApiKey, utcnow

PREFIX = "mg_"
_TOKEN = re.compile(r"^mg_([0-9a-f]{12})_([0-9a-f]{48})$")
NAME_MAX = 100


@dataclass(frozen=True)
class NewKey:
    """A key just made: its row, and the whole key (the only time it exists in clear)."""

    record: ApiKey
    token: str


def bearer(token: str) -> dict[str, str]:
    """The header a client sends its key in."""
    return {"Authorization": f"Bearer {token}"}


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """`(public id, secret)` of a well-formed key, else None."""
    match = _TOKEN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def secret_matches(record: ApiKey, secret: str) -> bool:
    """Whether `secret` is the key's, compared in constant time."""
    return hmac.compare_digest(record.secret_sha256, secret_digest(secret))


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    owner: str | None = None,
    admin: bool = False,
    rate_limit_per_minute: int | None = None,
    max_active_jobs: int | None = None,
) -> NewKey:
    """Make and commit a key for `owner` (default: an owner named like the key)."""
    public_id, secret = secrets.token_hex(6), secrets.token_hex(24)
    record = ApiKey(
        id=public_id,
        name=name,
        owner=owner or name,
        is_admin=admin,
        secret_sha256=secret_digest(secret),
        rate_limit_per_minute=rate_limit_per_minute,
        max_active_jobs=max_active_jobs,
    )
    session.add(record)
    await session.commit()
    return NewKey(record=record, token=f"{PREFIX}{public_id}_{secret}")


async def get_key(session: AsyncSession, public_id: str) -> ApiKey | None:
    return await session.get(ApiKey, public_id)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    rows = await session.scalars(sa.select(ApiKey).order_by(col(ApiKey.created_at)))
    return list(rows)


async def revoke_key(session: AsyncSession, public_id: str) -> ApiKey | None:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
    record = await session.get(ApiKey, public_id)
    if record is None:
        return None
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        await session.commit()
    return record


async def touch_key(session: AsyncSession, public_id: str, now: datetime) -> None:
    """Record a use; callers do this at most once a minute per key, not per request."""
    await session.execute(
        sa.update(ApiKey).where(col(ApiKey.id) == public_id).values(last_used_at=now)
    )
    await session.commit()
