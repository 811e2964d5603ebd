"""PostgreSQL is stopped for 20 s while jobs run.

Status mirrors wait (they retry without limit) and catch up once it is back; meanwhile the
API answers 503 with a JSON `detail` to a new job, a status read and a listing, and a
refused job leaves nothing behind: no row, no running workflow.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy as sa
from sqlmodel import col

from core.models import Job
from tests.faults.checker import check_jobs
from tests.faults.harness import FaultEnv, Workload, outage, plan_jobs, submit_all

pytestmark = pytest.mark.slow

SEED = 5432
JOBS = 50
DOWN_SECONDS = 20.0
PROBES = 3


async def _probe_while_down(faults: FaultEnv, workload: Workload, some_job: str) -> list[str]:
    """Every answer the API gives while the database is down, as `code detail` lines."""
    answers = []
    for index in range(PROBES):
        prompt = f"fault postgres-down: refused probe {index}"
        workload.refused.add(prompt)
        response = await faults.api.post("/api/v1/generate", json={"prompt": prompt})
        answers.append(response)
        await asyncio.sleep(1.0)
    answers.append(await faults.api.get(f"/api/v1/status/{some_job}"))
    answers.append(await faults.api.get("/api/v1/jobs"))
    return [f"{r.request.method} {r.request.url.path}: {r.status_code} {r.json()}" for r in answers]


async def test_postgres_down_for_20s_loses_no_job_and_refuses_cleanly(faults, report):
    rng = random.Random(SEED)
    workload = Workload("postgres-down", plan_jobs("postgres-down", JOBS, seed=SEED))
    await submit_all(faults.api, workload.jobs)
    await asyncio.sleep(rng.uniform(1.0, 3.0))
    some_job = workload.jobs[0].job_id

    answers = await outage(
        faults.stack,
        "postgres",
        DOWN_SECONDS,
        during=lambda: _probe_while_down(faults, workload, str(some_job)),
    )

    outcome = await check_jobs(faults, "postgres down 20 s", workload, within=180)
    report(outcome.line())
    assert all(": 503 {'detail': " in answer for answer in answers), answers
    async with faults.sessions() as session:
        leftovers = await session.scalar(
            sa.select(sa.func.count()).where(col(Job.prompt).in_(workload.refused))
        )
    assert leftovers == 0
    outcome.assert_clean()
