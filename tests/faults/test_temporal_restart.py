"""The Temporal server is stopped and started again while jobs run.

Its state is on disk, so every workflow resumes where it was; the worker and the API
reconnect by themselves. Meanwhile a new job is refused with a 503 and leaves nothing.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import FaultEnv, Workload, outage, plan_jobs, submit_all

pytestmark = pytest.mark.slow

SEED = 7233
JOBS = 50
DOWN_SECONDS = 10.0


async def _submit_while_down(faults: FaultEnv, workload: Workload) -> tuple[int, str]:
    prompt = "fault temporal-restart: refused probe"
    workload.refused.add(prompt)
    response = await faults.api.post("/api/v1/generate", json={"prompt": prompt})
    return response.status_code, response.text


async def test_temporal_restarted_mid_run_loses_no_job(faults, report):
    rng = random.Random(SEED)
    workload = Workload("temporal-restart", plan_jobs("temporal-restart", JOBS, seed=SEED))
    worker = faults.stack.pid("worker")
    await submit_all(faults.api, workload.jobs)
    await asyncio.sleep(rng.uniform(1.0, 3.0))

    refused = await outage(
        faults.stack,
        "temporal",
        DOWN_SECONDS,
        during=lambda: _submit_while_down(faults, workload),
    )

    outcome = await check_jobs(faults, "temporal restart", workload, within=180)
    report(outcome.line())
    assert refused[0] == 503, refused
    assert '"detail"' in refused[1], refused
    assert faults.stack.pid("worker") == worker, "the worker died with Temporal"
    outcome.assert_clean()
