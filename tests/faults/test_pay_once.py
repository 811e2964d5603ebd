"""Creates lose their answers, the worker is killed and Temporal restarts: each job attempt
still pays for exactly one prediction, and none is left running.

The fake creates every prediction it is asked for but drops 30 % of the answers (the
connection closes with no response), so the worker cannot tell whether it paid. Meanwhile
the worker is SIGKILLed three times (a create in flight dies with it) and Temporal is
stopped and started again.
"""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.faults.checker import check_jobs
from tests.faults.harness import (
    Workload,
    in_thread,
    outage,
    plan_jobs,
    provider_state,
    restore,
    submit_all,
)

pytestmark = pytest.mark.slow

STACK_ENV = {"FAKE_REPLICATE_LOSE_ANSWER_RATE": "0.3"}
SEED = 1401
JOBS = 50
KILLS = 3
TEMPORAL_DOWN_SECONDS = 8.0


async def test_every_job_attempt_pays_once_through_lost_answers_kills_and_a_restart(faults, report):
    rng = random.Random(SEED)
    workload = Workload("pay-once", plan_jobs("pay-once", JOBS, seed=SEED))
    submitting = asyncio.create_task(submit_all(faults.api, workload.jobs))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            await in_thread(faults.stack.kill, "worker", signal.SIGKILL)
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await in_thread(faults.stack.start_child, "worker")
    finally:
        await submitting
        await restore(faults.stack, "worker")
    await outage(faults.stack, "temporal", TEMPORAL_DOWN_SECONDS)

    outcome = await check_jobs(
        faults, "pay once (30 % lost answers, SIGKILL x3, Temporal restart)", workload, within=300
    )

    report(outcome.line())
    outcome.assert_clean()
    assert outcome.job_attempts == JOBS  # the designed failures are the user's: no reruns
    assert outcome.predictions == outcome.job_attempts, outcome.line()
    lost_answers = (await provider_state(faults))["faults"].get("create:lose_answer", 0)
    assert lost_answers >= 5, f"only {lost_answers} answers were lost: the scenario proves little"
