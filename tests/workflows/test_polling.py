"""Waiting on the provider: poll timers in workflow time, with and without a webhook coming.

With a webhook the polls are a safety net for a lost one: the first waits 30 s, not 1 s.
"""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from core.jobs import JobStatus, PredictionStatus
from tests.workflows.harness import FakeProvider, assert_waits, prediction, run_job, timers_of

STARTING = prediction(1, PredictionStatus.STARTING)
SUCCEEDED = prediction(1, PredictionStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("webhook", "timers"),
    [
        pytest.param(True, [30, 30, 30], id="webhook-never-comes"),
        # 1 s, growing by 1.5 up to 10 s.
        pytest.param(False, [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10, 10], id="no-webhook"),
    ],
)
async def test_polls_follow_their_timers(
    env: WorkflowEnvironment, webhook: bool, timers: list[float]
):
    polled = [STARTING] * (len(timers) - 1) + [SUCCEEDED]
    provider = FakeProvider(created=[STARTING], polled=polled, webhook=webhook)

    result = await run_job(env, provider)

    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.COMPLETED]
    assert_waits(await timers_of(env, result.job_id), provider.polls, timers)
    assert (result.status, result.retry_count) == (JobStatus.COMPLETED, 0)  # polls are no retries
