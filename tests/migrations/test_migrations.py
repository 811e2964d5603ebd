"""Migrations are the only way the schema is made, and they match the models exactly."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


async def alembic(url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        *args,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def tables(url: str) -> set[str]:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_head_on_an_empty_database_then_check_shows_no_drift(empty_database):
    upgrade = await alembic(empty_database, "upgrade", "head")
    check = await alembic(empty_database, "check")

    assert upgrade[0] == 0, upgrade[1]
    assert check[0] == 0, check[1]
    assert "No new upgrade operations detected" in check[1]
    assert await tables(empty_database) == {
        "alembic_version",
        "jobs",
        "api_keys",
        "owner_quotas",
        "quota_reservations",
        "webhook_secrets",
        "provider_webhook_deliveries",
        "workflow_starts",
    }


async def test_downgrade_to_base_and_up_again(empty_database):
    assert (await alembic(empty_database, "upgrade", "head"))[0] == 0
    down = await alembic(empty_database, "downgrade", "base")
    assert down[0] == 0, down[1]
    assert await tables(empty_database) == {"alembic_version"}
    assert (await alembic(empty_database, "upgrade", "head"))[0] == 0


def test_nothing_creates_the_schema_but_migrations():
    sources = [p for d in ("api", "core", "worker", "activities") for p in (ROOT / d).rglob("*.py")]
    assert not [p for p in sources if "create_all" in p.read_text()]
