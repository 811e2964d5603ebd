"""Job rows written straight into PostgreSQL, for the listing plans and the listing benchmark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from core.jobs import JobStatus
from devstack.health import asyncpg_dsn

STATUSES = [s.value for s in JobStatus]
MODELS = [f"owner/model-{n}" for n in range(20)]
OWNERS = [f"tenant-{n}" for n in range(10)]
START = datetime(2026, 1, 1, tzinfo=UTC)  # the first row's created_at; one a second after it
COLUMNS = [
    "id", "status", "prompt", "model_name", "parameters", "progress", "outputs", "retry_count",
    "created_at", "updated_at", "owner",
]  # fmt: skip


async def fill(url: str, jobs: int) -> None:
    """Copy `jobs` rows in (statuses, 20 models and 10 owners in turn, a second apart), then
    ANALYZE."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    rows = [
        (
            uuid.uuid4(),
            STATUSES[i % len(STATUSES)],
            f"prompt {i}",
            MODELS[i % len(MODELS)],
            "{}",
            0.0,
            "[]",
            0,
            START + timedelta(seconds=i),
            START + timedelta(seconds=i),
            OWNERS[i % len(OWNERS)],
        )
        for i in range(jobs)
    ]
    try:
        await connection.copy_records_to_table("jobs", records=rows, columns=COLUMNS)
        await connection.execute("ANALYZE jobs")
    finally:
        await connection.close()


async def unfill(url: str) -> None:
    """Delete the rows `fill` copied in (its owners' rows created on its first day).

    A third of them are pending or processing with no workflow, which the reconciler would
    describe every minute for as long as they stay.
    """
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "DELETE FROM jobs WHERE owner = ANY($1::text[]) AND created_at < $2",
            OWNERS,
            START + timedelta(days=1),
        )
    finally:
        await connection.close()
