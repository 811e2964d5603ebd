"""A webhook for a prediction not the job's own, heard while the job's end is recorded.

It can come at any moment: a create whose answer was lost and that the provider started
after all, its `start` webhook arriving just as the job ends. If the signal reaches the
workflow before it closes, the workflow cancels that prediction before closing (once it has
closed, the API does: tests/pipeline/test_pay_once.py). Either way nothing outlives the job.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.worker import Replayer

from core.jobs import PREDICTION_SIGNAL, GenerateMediaResult, JobStatus, PredictionStatus
from core.temporal import DATA_CONVERTER
from tests.workflows.harness import prediction, started_job
from tests.workflows.test_final_ends import SlowEnd
from worker.main import WORKFLOW_RUNNER
from workflows.generation import GenerateMediaWorkflow

STRAY = prediction(9, PredictionStatus.STARTING)


async def stray_during_the_end(env, provider: SlowEnd) -> WorkflowHandle[Any, GenerateMediaResult]:
    """Start a job, and signal a stray prediction while its terminal mirror runs."""
    async with started_job(env, provider) as handle:
        await asyncio.wait_for(provider.ending.wait(), timeout=30)
        await handle.signal(PREDICTION_SIGNAL, STRAY)
        provider.release.set()
        with contextlib.suppress(WorkflowFailureError):  # the failed end raises
            await handle.result()
        return handle


async def assert_replays(handle: WorkflowHandle[Any, GenerateMediaResult]) -> None:
    replayer = Replayer(
        workflows=[GenerateMediaWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(await handle.fetch_history())


@pytest.mark.parametrize(
    ("answer", "end"),
    [
        (prediction(1, PredictionStatus.SUCCEEDED), JobStatus.COMPLETED),
        (prediction(1, PredictionStatus.FAILED, error="nsfw", user_error=True), JobStatus.FAILED),
    ],
)
async def test_a_stray_heard_while_the_end_is_recorded_is_cancelled(env, answer, end):
    provider = SlowEnd(created=[answer])

    handle = await stray_during_the_end(env, provider)

    assert provider.statuses() == [JobStatus.PROCESSING, end]
    assert provider.cancels == [STRAY.id]
    await assert_replays(handle)
