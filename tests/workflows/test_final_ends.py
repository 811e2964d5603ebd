"""A cancel that arrives once a job's end is decided is too late: the end stands.

The row and Temporal must agree: a job whose `completed` (or `failed`) mirror is being
written when DELETE comes ends completed (failed), not canceled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.jobs import JobStatus, JobUpdate, MirrorResult, PredictionStatus
from tests.workflows.harness import FakeProvider, prediction, started_job


@dataclass
class SlowEnd(FakeProvider):
    """Holds the mirror of a terminal status until the test lets it go."""

    ending: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name="mirror_status")
    async def mirror_status(self, update: JobUpdate) -> MirrorResult:
        if update.status.terminal:
            self.ending.set()
            await self.release.wait()
        return await super().mirror_status(update)


async def cancel_during_the_end(env, provider: SlowEnd):
    async with started_job(env, provider) as handle:
        await asyncio.wait_for(provider.ending.wait(), timeout=30)
        await handle.cancel()
        await asyncio.sleep(0.5)  # the cancel reaches the workflow while the mirror runs
        provider.release.set()
        return await handle.result()


async def test_a_cancel_during_the_completed_mirror_leaves_the_job_completed(env):
    provider = SlowEnd(created=[prediction(1, PredictionStatus.SUCCEEDED)])

    result = await cancel_during_the_end(env, provider)

    assert result.status is JobStatus.COMPLETED
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.COMPLETED]


async def test_a_cancel_during_the_failed_mirror_leaves_the_job_failed(env):
    provider = SlowEnd(
        created=[prediction(1, PredictionStatus.FAILED, error="nsfw", user_error=True)]
    )

    with pytest.raises(WorkflowFailureError) as failed:
        await cancel_during_the_end(env, provider)

    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "UserInputError"
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]
