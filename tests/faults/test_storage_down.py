"""The object store is stopped for 20 s while jobs store their outputs.

Uploads (and metadata writes) fail while it is down and succeed on a later attempt, under
the same keys: no job fails, no object is doubled. Meanwhile a download answers 503.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import (
    FaultEnv,
    Workload,
    outage,
    plan_jobs,
    submit_all,
    wait_for_status,
)

pytestmark = pytest.mark.slow

SEED = 8333
JOBS = 50
DOWN_SECONDS = 20.0


async def _download_while_down(faults: FaultEnv, job_id: str) -> tuple[int, str]:
    await asyncio.sleep(2.0)  # the store's process is gone by now
    response = await faults.api.get(f"/api/v1/download/{job_id}")
    return response.status_code, response.text


async def test_object_store_down_for_20s_loses_no_job(faults, report):
    rng = random.Random(SEED)
    early = plan_jobs("storage-down-early", 1, seed=SEED, fail_every=0)
    workload = Workload("storage-down", early + plan_jobs("storage-down", JOBS, seed=SEED))
    await submit_all(faults.api, early)
    await wait_for_status(faults.api, str(early[0].job_id), "completed", within=30)
    await submit_all(faults.api, workload.jobs[1:])
    await asyncio.sleep(rng.uniform(1.5, 3.0))  # the first outputs are being stored

    download = await outage(
        faults.stack,
        "s3",
        DOWN_SECONDS,
        during=lambda: _download_while_down(faults, str(early[0].job_id)),
    )

    outcome = await check_jobs(faults, "object store down 20 s", workload, within=180)
    report(outcome.line())
    assert download[0] == 503, download
    assert '"detail"' in download[1], download
    outcome.assert_clean()
