"""Temporal freezes (SIGSTOP) for 20 s in the middle of a steady stream of submits.

A submit commits its job's row and outbox entry and answers at once (api/starter.py starts
the workflow), so not one submit is refused or left hanging while Temporal is frozen; the
starters' starts time out and are tried again, and once Temporal thaws every job starts,
runs and ends, none lost, stuck or paid for twice.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import FaultEnv, Planned, Workload, in_thread, plan_jobs

pytestmark = pytest.mark.slow

SEED = 4120
RATE = 4.0  # submits per second, steadily
SECONDS = 36.0
FREEZE_AT, FROZEN_FOR = 8.0, 20.0
# A submit that takes longer than this counts as refused (the API waited on Temporal).
SUBMIT_TIMEOUT = 10.0


async def test_temporal_frozen_refuses_no_submit_and_loses_no_job(faults: FaultEnv, report):
    planned = plan_jobs("temporal-frozen", int(RATE * SECONDS), seed=SEED)
    workload = Workload("temporal-frozen", planned)
    refused: list[str] = []
    slowest = 0.0

    async def post(job: Planned) -> None:
        nonlocal slowest
        began = time.monotonic()
        try:
            response = await faults.api.post(
                "/api/v1/generate", json=job.body, timeout=SUBMIT_TIMEOUT
            )
        except Exception as exc:
            refused.append(f"{job.prompt}: {type(exc).__name__}")
            return
        slowest = max(slowest, time.monotonic() - began)
        if response.status_code != 202:
            refused.append(f"{job.prompt}: {response.status_code} {response.text[:200]}")
            return
        job.job_id = response.json()["id"]

    async def stream() -> None:
        began = time.monotonic()
        posts = []
        for index, job in enumerate(planned):
            await asyncio.sleep(max(0.0, began + index / RATE - time.monotonic()))
            posts.append(asyncio.create_task(post(job)))
        await asyncio.gather(*posts)

    submitting = asyncio.create_task(stream())
    await asyncio.sleep(FREEZE_AT)
    await in_thread(faults.stack.kill, "temporal", signal.SIGSTOP)
    try:
        await asyncio.sleep(FROZEN_FOR)
    finally:
        await in_thread(faults.stack.kill, "temporal", signal.SIGCONT)
    await submitting

    outcome = await check_jobs(faults, "temporal frozen", workload, within=240)
    report(
        f"{outcome.line()}; Temporal frozen {FROZEN_FOR:.0f} s during {RATE:.0f} submits/s: "
        f"{len(refused)} refused, slowest submit {slowest:.2f} s"
    )
    assert not refused, refused
    assert len(workload.submitted()) == len(planned)
    outcome.assert_clean()
