"""The API process dies: mid-run, and at each step between a submit and its workflow.

A submit commits the job's row and its outbox entry together, and the API's starters start
the workflow from the outbox (api/starter.py). So a process killed before the COMMIT leaves
nothing, one killed after it leaves a job that another process's starter starts, a commit
whose answer was lost leaves the job standing (and running), and a starter killed between a
workflow's start and settling its outbox row leaves a row the next starter settles by
finding the workflow already started: the job runs, and is paid for, once. Jobs in flight
when the API dies go on (the provider's webhooks are lost meanwhile; the workflows poll).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys

import pytest
from temporalio.service import RPCError, RPCStatusCode

from devstack.servers import ROOT
from tests.faults.checker import check_jobs, read_rows
from tests.faults.harness import (
    FaultEnv,
    Planned,
    Workload,
    in_thread,
    plan_jobs,
    restore,
    submit_all,
)

pytestmark = pytest.mark.slow

SEED = 8000
JOBS = 50
# How many jobs meet each fault of `submit_and_die` (one process each).
HOOKED = {"before_commit": 3, "after_commit": 4, "commit_lost": 3, "mid_start": 3}
TRICKLE = 20  # jobs POSTed one by one over TRICKLE_SECONDS while the API is killed
TRICKLE_SECONDS = 4.0


async def _submit_tolerant(faults: FaultEnv, jobs: list[Planned]) -> int:
    """POST the jobs over `TRICKLE_SECONDS`; a POST the dying API never answers (or refuses
    while it is down) leaves its job's id unknown. Returns how many were not answered 202.
    """
    unanswered = 0

    async def one(index: int, job: Planned) -> None:
        nonlocal unanswered
        await asyncio.sleep(index * TRICKLE_SECONDS / len(jobs))
        try:
            response = await faults.api.post("/api/v1/generate", json=job.body)
        except Exception:
            unanswered += 1
            return
        if response.status_code == 202:
            job.job_id = response.json()["id"]
        else:
            unanswered += 1

    await asyncio.gather(*(one(index, job) for index, job in enumerate(jobs)))
    return unanswered


async def _submit_and_die(faults: FaultEnv, point: str, job: Planned) -> tuple[int, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.submit_and_die",
        point,
        job.prompt,
        json.dumps(job.parameters),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **faults.stack.env},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = out.decode().split()
    assert lines, f"submit_and_die {point} said nothing: {err.decode()[-2000:]}"
    return process.returncode or 0, lines


async def test_api_killed_loses_no_job_and_leaves_nothing_half_made(faults, report):
    rng = random.Random(SEED)
    planned = plan_jobs("api-killed", JOBS + TRICKLE + sum(HOOKED.values()), seed=SEED)
    regular, trickle = planned[:JOBS], planned[JOBS : JOBS + TRICKLE]
    hooked = iter(planned[JOBS + TRICKLE :])
    by_point = {point: [next(hooked) for _ in range(n)] for point, n in HOOKED.items()}
    made = [
        job for point in ("after_commit", "commit_lost", "mid_start") for job in by_point[point]
    ]
    workload = Workload("api-killed", regular + trickle + made)
    workload.refused |= {job.prompt for job in by_point["before_commit"]}
    await submit_all(faults.api, regular)

    submitting = asyncio.create_task(_submit_tolerant(faults, trickle))
    try:
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        await in_thread(faults.stack.kill, "api", signal.SIGKILL)
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        await in_thread(faults.stack.start_child, "api")
    finally:
        unanswered = await submitting
        await restore(faults.stack, "api")
    gate = asyncio.Semaphore(4)

    async def hook(point: str, job: Planned) -> tuple[str, Planned, int, list[str]]:
        async with gate:
            return (point, job, *await _submit_and_die(faults, point, job))

    runs = await asyncio.gather(
        *(hook(point, job) for point, jobs in by_point.items() for job in jobs)
    )
    vanished = []
    for point, job, code, lines in runs:
        if point == "commit_lost" or "not-claimed" in lines:  # another helper claimed it
            assert code == 0, (point, code, lines)
        else:
            assert code == -signal.SIGKILL, (point, code, lines)
        if point == "before_commit":
            vanished.append(lines[0])
        else:
            job.job_id = lines[0]

    died_mid_start = [lines for point, _, code, lines in runs if point == "mid_start" and code]
    assert died_mid_start, "no starter died between a workflow's start and its outbox row"
    outcome = await check_jobs(faults, "API killed", workload, within=180)
    report(
        f"{outcome.line()}; API SIGKILLed mid-run ({unanswered} POSTs unanswered), "
        + ", ".join(f"{n} killed {point}" for point, n in HOOKED.items())
    )
    assert not await read_rows(faults, vanished), "a job killed before its commit left a row"
    for job_id in vanished:
        with pytest.raises(RPCError) as no_workflow:
            await faults.temporal.get_workflow_handle(job_id).describe()
        assert no_workflow.value.status == RPCStatusCode.NOT_FOUND
    outcome.assert_clean()
