"""A key's `last_used_at` is kept, but not with a write per request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from api.auth import KEY_CACHE_SECONDS
from tests.pipeline.tenants import mint


async def _row_version(sessions, key_id: str) -> tuple[str, datetime | None]:
    """The row's `xmin` (a new one for every UPDATE) and its `last_used_at`."""
    async with sessions() as session:
        row = (
            await session.execute(
                sa.text("SELECT xmin::text, last_used_at FROM api_keys WHERE id = :id"),
                {"id": key_id},
            )
        ).one()
    return row[0], row[1]


async def test_last_used_is_recorded_once_not_per_request(api, sessions):
    tenant = await mint(sessions)
    _, never = await _row_version(sessions, tenant.key_id)
    assert never is None

    first = await api.get("/api/v1/jobs", headers=tenant.headers)
    assert first.status_code == 200
    version, used = await _row_version(sessions, tenant.key_id)
    assert used is not None
    assert abs(datetime.now(UTC) - used) < timedelta(seconds=30)

    # Long enough for the API to read the key's row again several times.
    for _ in range(int(4 * KEY_CACHE_SECONDS / 0.1)):
        assert (await api.get("/api/v1/jobs", headers=tenant.headers)).status_code == 200
        await asyncio.sleep(0.1)
    assert await _row_version(sessions, tenant.key_id) == (version, used)
