"""A prediction that fails through no fault of the user is created again, 5 s then 10 s later."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.jobs import JobError, JobStatus, Prediction, PredictionStatus
from tests.workflows.harness import FakeProvider, assert_waits, prediction, run_job, timers_of
from workflows import policies

OOM = "CUDA out of memory"


def failed(number: int) -> Prediction:
    """A prediction the provider reports failed at once (as `Prefer: wait` may)."""
    return prediction(number, PredictionStatus.FAILED, error=OOM)


def test_the_rerun_policy_is_5_s_then_10_s_for_3_runs():
    rerun = policies.PREDICTION_RERUN

    delays = [policies.backoff_delay(rerun, attempt).total_seconds() for attempt in (1, 2)]

    assert (delays, rerun.maximum_attempts) == ([5.0, 10.0], 3)


async def test_a_failed_prediction_is_rerun_after_5_s_then_10_s(env: WorkflowEnvironment):
    provider = FakeProvider(
        created=[failed(1), failed(2), prediction(3, PredictionStatus.SUCCEEDED)]
    )

    result = await run_job(env, provider)

    reruns = [create.at for create in provider.creates[1:]]
    assert_waits(await timers_of(env, provider.job_id()), reruns, [5, 10])
    assert [create.job_attempt for create in provider.creates] == [1, 2, 3]
    assert (result.status, result.external_job_id) == (JobStatus.COMPLETED, "p3")
    assert result.retry_count == 2
    assert provider.updates[-1].status is JobStatus.COMPLETED
    assert provider.updates[-1].retry_count == 2
    assert provider.polls == []  # each prediction came back finished: only the backoff waited


async def test_a_prediction_failing_every_run_fails_the_job_after_3_runs(
    env: WorkflowEnvironment,
):
    provider = FakeProvider(created=[failed(1), failed(2), failed(3)])

    with pytest.raises(WorkflowFailureError) as raised:
        await run_job(env, provider)

    reruns = [create.at for create in provider.creates[1:]]
    assert_waits(await timers_of(env, provider.job_id()), reruns, [5, 10])
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, cause.non_retryable) == ("PredictionFailed", OOM, True)
    final = provider.updates[-1]
    assert final.status is JobStatus.FAILED
    assert final.error == JobError(type="PredictionFailed", message=OOM, retryable=True)
    assert final.retry_count == 2
    # Each run is mirrored with the prediction it runs; none was left running to cancel.
    processing = [update.external_job_id for update in provider.updates[:-1]]
    assert processing == ["p1", "p2", "p3"]
    assert provider.cancels == []


async def test_a_prediction_failed_by_the_users_input_is_not_rerun(env: WorkflowEnvironment):
    nsfw = prediction(1, PredictionStatus.FAILED, error="NSFW content", user_error=True)
    provider = FakeProvider(created=[nsfw])

    with pytest.raises(WorkflowFailureError) as raised:
        await run_job(env, provider)

    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UserInputError"
    assert len(provider.creates) == 1
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]
    assert provider.updates[-1].retry_count == 0
