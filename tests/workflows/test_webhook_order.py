"""Webhooks arrive in any order: a late `start` never hides an end already heard of."""

from __future__ import annotations

from core.jobs import PREDICTION_SIGNAL, JobStatus, PredictionStatus
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
    provider = FakeProvider(
        created=[running], polled=[running], webhook=True, starts_heard=["p1", "p9"]
    )
    async with started_job(env, provider) as handle:
        await handle.signal(PREDICTION_SIGNAL, prediction(1, PredictionStatus.SUCCEEDED))

        result = await handle.result()

    assert result.status is JobStatus.COMPLETED
    assert provider.cancels == ["p9"]
    assert provider.metadata[-1].orphans == ["p9"]
