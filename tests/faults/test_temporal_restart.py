"""The Temporal server is stopped and started again while jobs run.

Its state is on disk, so every workflow resumes where it was; the worker and the API
reconnect by themselves. Meanwhile new jobs are still accepted (a submit never waits on
Temporal: api/starter.py starts their workflows once it is back), and they run too.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import FaultEnv, Planned, Workload, outage, plan_jobs, submit_all

pytestmark = pytest.mark.slow

SEED = 7233
JOBS = 50
WHILE_DOWN = 5  # jobs submitted while Temporal is down
DOWN_SECONDS = 10.0


async def test_temporal_restarted_mid_run_loses_no_job(faults: FaultEnv, report):
    rng = random.Random(SEED)
    planned = plan_jobs("temporal-restart", JOBS + WHILE_DOWN, seed=SEED)
    workload = Workload("temporal-restart", planned)
    before, while_down = planned[:JOBS], planned[JOBS:]
    worker = faults.stack.pid("worker")
    await submit_all(faults.api, before)
    await asyncio.sleep(rng.uniform(1.0, 3.0))

    async def submit_while_down() -> list[Planned]:
        await submit_all(faults.api, while_down)  # each answered 202
        return while_down

    accepted = await outage(faults.stack, "temporal", DOWN_SECONDS, during=submit_while_down)

    outcome = await check_jobs(faults, "temporal restart", workload, within=180)
    report(f"{outcome.line()}; {len(accepted)} submitted while Temporal was down")
    assert all(job.job_id for job in accepted)
    assert faults.stack.pid("worker") == worker, "the worker died with Temporal"
    outcome.assert_clean()
