"""Webhooks arrive in any order: a late `start` never hides an end already heard of."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.jobs import (
    PREDICTION_SIGNAL,
    CreatePredictionInput,
    CreatePredictionResult,
    JobStatus,
    PredictionStatus,
)
from tests.workflows.harness import FakeProvider, prediction, started_job


async def test_a_start_webhook_after_the_completed_one_does_not_undo_it(env):
    running = prediction(1, PredictionStatus.PROCESSING)
    provider = FakeProvider(created=[running], polled=[running], webhook=True)
    async with started_job(env, provider) as handle:
        await handle.signal(PREDICTION_SIGNAL, prediction(1, PredictionStatus.SUCCEEDED))
        await handle.signal(PREDICTION_SIGNAL, running)  # the `start` webhook, delivered late

        result = await handle.result()

    assert result.status is JobStatus.COMPLETED
    assert result.external_job_id == "p1"
    assert len(result.outputs) == 1
    assert provider.cancels == []


async def test_starts_the_row_kept_while_creating_stop_the_strays(env):
    """The `processing` mirror returns the starts the row kept while the create ran: the job's
    own is no orphan, any other is cancelled and listed, as a signalled one would be."""
    running = prediction(1, PredictionStatus.PROCESSING)
    provider = FakeProvider(created=[running], polled=[running], webhook=True, starts_heard=["p9"])
    async with started_job(env, provider) as handle:
        await handle.signal(PREDICTION_SIGNAL, prediction(1, PredictionStatus.SUCCEEDED))

        result = await handle.result()

    assert result.status is JobStatus.COMPLETED
    assert provider.cancels == ["p9"]  # once, though every later mirror returns it again
    assert provider.metadata[-1].orphans == ["p9"]


@dataclass
class RefusedCreate(FakeProvider):
    """The provider refuses the create for good (its answer to a request that did arrive)."""

    @activity.defn(name="start_prediction")
    async def start_prediction(self, request: CreatePredictionInput) -> CreatePredictionResult:
        raise ApplicationError("no such model", type="ProviderRejected", non_retryable=True)


async def test_a_start_kept_for_a_job_that_fails_while_creating_is_stopped(env):
    """The job never records a prediction of its own: the failed end's mirror returns what
    the row kept, and the job's last word cancels it."""
    provider = RefusedCreate(created=[], starts_heard=["p9"])
    async with started_job(env, provider) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()

    assert provider.statuses()[-1] is JobStatus.FAILED
    assert provider.cancels == ["p9"]
