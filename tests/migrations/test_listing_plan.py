"""GET /api/v1/jobs is served by an index, not a table scan, even with 10,000 jobs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from core.jobs import JobStatus
from core.models import Job
from tests.migrations.test_migrations import alembic

JOBS = 10_000
STATUSES = [s.value for s in JobStatus]
MODELS = [f"owner/model-{n}" for n in range(20)]


async def fill(url: str) -> None:
    parsed = make_url(url)
    connection = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (
            uuid.uuid4(),
            STATUSES[i % 5],
            f"prompt {i}",
            MODELS[i % len(MODELS)],
            "{}",
            0.0,
            "[]",
            0,
            start + timedelta(seconds=i),
            start + timedelta(seconds=i),
        )
        for i in range(JOBS)
    ]
    try:
        await connection.copy_records_to_table(
            "jobs",
            records=rows,
            columns=[
                "id",
                "status",
                "prompt",
                "model_name",
                "parameters",
                "progress",
                "outputs",
                "retry_count",
                "created_at",
                "updated_at",
            ],
        )
        await connection.execute("ANALYZE jobs")
    finally:
        await connection.close()


def page(status: str | None = None, model: str | None = None) -> str:
    """The list query of core.repository, compiled with literal values."""
    query = sa.select(Job).order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(20)
    if status:
        query = query.where(col(Job.status) == status)
    if model:
        query = query.where(col(Job.model_name) == model)
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def test_list_queries_use_the_indexes(empty_database):
    assert (await alembic(empty_database, "upgrade", "head"))[0] == 0
    await fill(empty_database)
    engine = create_async_engine(empty_database)
    plans = {}
    try:
        async with engine.connect() as connection:
            for name, sql in {
                "all": page(),
                "status": page(status="failed"),
                "model": page(model="owner/model-7"),
            }.items():
                result = await connection.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"))
                plans[name] = json.dumps(result.scalar_one())
    finally:
        await engine.dispose()

    # Every page is an index read in order: no table scan, no sort.
    assert all("Index Scan" in plan for plan in plans.values()), plans
    assert all("Seq Scan" not in plan and '"Sort"' not in plan for plan in plans.values()), plans
    assert "ix_jobs_created_at_id" in plans["all"]
    # A selective filter (one model in 20) reads its own index.
    assert "ix_jobs_model_name_created_at" in plans["model"]
