"""A fresh, empty database on the session's PostgreSQL for each test that asks for one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from core.config import get_settings


async def _admin(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database="postgres"
    )


@pytest.fixture
async def empty_database(stack) -> AsyncIterator[str]:
    """The SQLAlchemy URL of a new database, dropped afterwards."""
    url = get_settings().database_url
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = await _admin(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
