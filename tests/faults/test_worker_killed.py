"""The worker is killed with SIGKILL at random moments, several times, and started again.

Whatever it was doing (creating a prediction, storing an output, mirroring a status, a
workflow task) is lost with it; Temporal times the attempt out and the next worker redoes
it. Every job must still end as planned, with exactly its objects in the bucket.
"""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import Workload, in_thread, plan_jobs, restore, submit_all

pytestmark = pytest.mark.slow

SEED = 1123
JOBS = 50
KILLS = 3


async def test_worker_killed_at_random_moments_loses_no_job(faults, report):
    rng = random.Random(SEED)
    workload = Workload("worker-sigkill", plan_jobs("worker-sigkill", JOBS, seed=SEED))
    submitting = asyncio.create_task(submit_all(faults.api, workload.jobs))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 6.0))
            await in_thread(faults.stack.kill, "worker", signal.SIGKILL)
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await in_thread(faults.stack.start_child, "worker")
    finally:
        await submitting
        await restore(faults.stack, "worker")

    outcome = await check_jobs(faults, "worker SIGKILL x3", workload, within=240)

    report(outcome.line())
    outcome.assert_clean()
