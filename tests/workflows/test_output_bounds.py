"""A job stores at most MAX_OUTPUTS outputs of at most MAX_OUTPUT_BYTES each, all or none."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from core.jobs import JobStatus, PredictionStatus
from tests.workflows.harness import FakeProvider, prediction, run_job


async def test_more_outputs_than_the_limit_fail_the_job_before_any_is_stored(env):
    provider = FakeProvider(created=[prediction(1, PredictionStatus.SUCCEEDED, outputs=17)])

    with pytest.raises(WorkflowFailureError) as failed:
        await run_job(env, provider)

    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "TooManyOutputs"
    assert "17 outputs" in failed.value.cause.message
    assert "MAX_OUTPUTS" in failed.value.cause.message
    assert provider.stored == []
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]


async def test_an_output_too_large_fails_the_job_and_its_stored_siblings_are_deleted(env):
    provider = FakeProvider(
        created=[prediction(1, PredictionStatus.SUCCEEDED, outputs=3)], too_large={1}
    )

    with pytest.raises(WorkflowFailureError) as failed:
        await run_job(env, provider)

    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "OutputTooLarge"
    assert sorted(request.index for request in provider.stored) == [0, 1, 2]
    assert all(request.max_bytes == 500_000_000 for request in provider.stored)
    assert sorted(provider.deleted) == sorted(
        f"media/{provider.stored[0].job_id}/{index}.png" for index in (0, 2)
    )
    failed_update = provider.updates[-1]
    assert failed_update.status is JobStatus.FAILED
    assert failed_update.error is not None
    assert failed_update.error.type == "OutputTooLarge"


async def test_outputs_within_the_limits_are_all_kept(env):
    provider = FakeProvider(created=[prediction(1, PredictionStatus.SUCCEEDED, outputs=16)])

    result = await run_job(env, provider)

    assert len(result.outputs) == 16
    assert provider.deleted == []
