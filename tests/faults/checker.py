"""The verdict of a fault scenario, the same for all of them.

Once the fault is over, every job must reach a terminal status (bounded wait), and then:
the API's document, the database row and the workflow agree (status; for a completed job
the workflow's `GenerateMediaResult` equals the row's outputs, prediction id and retry
count; for a failed one the workflow's failure equals the row's error); the bucket holds
exactly one object per output and one metadata document per completed job, with the bytes
the row describes, and nothing for failed jobs; no row and no workflow is left unfinished;
no row, workflow or object exists that the scenario did not plan; the API never answered 500.

Since each scenario has a stack of its own, "everything in the stack" is "this scenario's".
The checks of one job live in `job_check`, the bucket's keys in `bucket`, the record in `outcome`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import WorkflowExecutionStatus

from core.jobs import WORKFLOW_NAME
from core.keys import MEDIA_PREFIX, METADATA_PREFIX, VARIANTS_PREFIX
from core.models import Job
from tests.faults.bucket import ID_LENGTH, list_keys, owner_of
from tests.faults.harness import FaultEnv, Planned, Workload, provider_state
from tests.faults.job_check import JobChecker
from tests.faults.outcome import TERMINAL, Outcome

__all__ = ["Outcome", "adopt_unknown", "check_jobs", "read_rows", "wait_until_terminal"]
# At least this long for the workflows to close once every row is terminal: a final step
# whose answer was lost is tried again after its 30 s timeout.
CLOSE_WITHIN = 60.0


async def read_rows(env: FaultEnv, ids: list[str] | None = None) -> dict[str, Job]:
    statement = sa.select(Job)
    if ids is not None:
        statement = statement.where(col(Job.id).in_([uuid.UUID(i) for i in ids]))
    async with env.sessions() as session:
        return {str(row.id): row for row in (await session.execute(statement)).scalars()}


async def _workflows(env: FaultEnv) -> dict[str, Any]:
    """Every job's workflow (not the reconciler's runs, which the worker's schedule starts)."""
    query = f'WorkflowType = "{WORKFLOW_NAME}"'
    return {wf.id: wf async for wf in env.temporal.list_workflows(query)}


async def adopt_unknown(env: FaultEnv, workload: Workload, outcome: Outcome) -> None:
    """Give planned jobs the ids of rows or workflows nobody was told about (a lost answer)."""
    planned = workload.by_prompt()
    known = {job.job_id for job in workload.jobs if job.job_id}
    rows = await read_rows(env)
    workflows = await _workflows(env)
    prompts = {job_id: row.prompt for job_id, row in rows.items()}
    for job_id, wf in workflows.items():
        if job_id not in prompts:
            memo = await wf.memo()
            prompts[job_id] = str(memo.get("prompt", ""))
    for job_id, prompt in prompts.items():
        if job_id in known or job_id in outcome.refused_ids:
            continue
        if prompt in workload.refused:
            await _refused(env, outcome, job_id, job_id in rows, workflows.get(job_id))
            continue
        job = planned.get(prompt)
        if job is None:
            outcome.problems.append(f"{job_id}: a job nobody planned ({prompt!r})")
        elif job.job_id is not None:
            outcome.problems.append(f"{job_id}: a second job for {prompt!r} ({job.job_id})")
        else:
            job.job_id = job_id


async def _refused(env: FaultEnv, outcome: Outcome, job_id: str, has_row: bool, wf: Any) -> None:
    """A request the API refused (503) may leave a workflow it stopped, and nothing else."""
    outcome.refused_ids.add(job_id)
    if has_row:
        outcome.problems.append(f"{job_id}: a request answered 503 left a row")
    if wf is not None and wf.status != WorkflowExecutionStatus.TERMINATED:
        outcome.problems.append(f"{job_id}: a request answered 503 left a {wf.status} workflow")


async def wait_until_terminal(env: FaultEnv, ids: list[str], within: float) -> dict[str, Job]:
    """Rows of `ids`, once all are terminal or `within` seconds have passed (then as they are)."""
    deadline = time.monotonic() + within
    rows: dict[str, Job] = {}
    while True:
        try:
            rows = await read_rows(env, ids)
        except Exception:  # the database may still be coming back
            rows = rows or {}
        done = all(job_id in rows and rows[job_id].status in TERMINAL for job_id in ids)
        if done or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(1.0)


async def wait_until_closed(env: FaultEnv, ids: list[str], within: float) -> None:
    """Wait (up to `within` s) until no workflow of `ids` runs. A row is terminal a step before
    its workflow closes, and that step may write it again: a final mirror whose answer was lost
    with Temporal runs once more after its timeout and raises the row's retry count."""
    deadline = time.monotonic() + within
    wanted = set(ids)
    while time.monotonic() < deadline:
        workflows = await _workflows(env)
        running = [
            i
            for i, wf in workflows.items()
            if i in wanted and wf.status == WorkflowExecutionStatus.RUNNING
        ]
        if not running:
            return
        await asyncio.sleep(1.0)


async def _api_500s(env: FaultEnv) -> list[str]:
    text = (await env.api.get("/metrics")).text
    return [
        line
        for line in text.splitlines()
        if line.startswith("mediagen_http_requests_total{")
        and 'code="500"' in line
        and float(line.rsplit(" ", 1)[1]) > 0
    ]


async def check_jobs(
    env: FaultEnv,
    name: str,
    workload: Workload,
    *,
    within: float,
    may_fail: set[str] | None = None,
) -> Outcome:
    """Wait (up to `within` s) for every job of `workload` to end, then check all of the above.

    `may_fail`: error types any job may end with (the provider kept failing past every
    retry), also one meant to fail otherwise; such a job counts as failed as expected.
    """
    outcome = Outcome(name)
    began = time.monotonic()
    await adopt_unknown(env, workload, outcome)
    ids = [job.job_id for job in workload.submitted() if job.job_id]
    rows = await wait_until_terminal(env, ids, within)
    outcome.seconds = time.monotonic() - began
    await wait_until_closed(env, ids, max(within - outcome.seconds, CLOSE_WITHIN))
    await adopt_unknown(env, workload, outcome)  # rows that appeared meanwhile
    jobs = workload.submitted()
    outcome.submitted = len(jobs)
    rows |= await read_rows(env, [job.job_id for job in jobs if job.job_id])
    keys_of: defaultdict[str, list[str]] = defaultdict(list)
    for key in await list_keys(env.stack.settings, MEDIA_PREFIX, METADATA_PREFIX, VARIANTS_PREFIX):
        keys_of[owner_of(key)[0]].append(key)
    gate = asyncio.Semaphore(8)

    async def one(job: Planned) -> None:
        assert job.job_id is not None
        async with gate:
            checker = JobChecker(env, outcome, job, may_fail or set())
            await checker.check(rows.get(job.job_id), keys_of.get(job.job_id, []))

    await asyncio.gather(*(one(job) for job in jobs))
    ids_of_jobs = {job.job_id for job in jobs}
    for owner, keys in keys_of.items():
        if owner not in ids_of_jobs:
            outcome.orphans += [f"{key}: no job has this id" for key in keys]
    # Everything in the stack, beyond the planned jobs: nothing may be left unfinished.
    reported = {entry[:ID_LENGTH] for entry in outcome.lost}
    for job_id, row in (await read_rows(env)).items():
        if row.status not in TERMINAL and job_id not in reported:
            outcome.lost.append(f"{job_id}: row still {row.status} ({row.prompt})")
    for job_id, wf in (await _workflows(env)).items():
        if wf.status == WorkflowExecutionStatus.RUNNING and job_id not in reported:
            outcome.lost.append(f"{job_id}: workflow still running")
        elif job_id not in ids_of_jobs | outcome.refused_ids:
            outcome.problems.append(f"{job_id}: workflow {wf.status} of no planned job")
    outcome.problems += [f"the API answered 500: {line}" for line in await _api_500s(env)]
    state = await provider_state(env, by="webhook")
    outcome.predictions = state["creates"]["total"]
    outcome.job_attempts = len(state["by_webhook"])
    outcome.running = state["running"]
    return outcome
