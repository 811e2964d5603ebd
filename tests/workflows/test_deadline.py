"""A prediction that never finishes fails the job after PREDICTION_DEADLINE of workflow time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.jobs import JobError, JobStatus, PredictionStatus
from core.search_attributes import JOB_STATUS
from tests.workflows.harness import FakeProvider, prediction, run_job


async def test_a_prediction_that_never_finishes_times_out_after_an_hour(env: WorkflowEnvironment):
    starting = prediction(1, PredictionStatus.STARTING)
    provider = FakeProvider(created=[starting], polled=[starting], webhook=True)

    with pytest.raises(WorkflowFailureError) as raised:
        await run_job(env, provider)

    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("PredictionTimeout", True)
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]
    processing, final = provider.updates
    assert final.error == JobError(
        type="PredictionTimeout", message="the provider did not finish in time", retryable=True
    )
    assert final.retry_count == 0
    # Failed at the first check past the deadline, after a safety-net poll every 30 s.
    assert timedelta(hours=1) <= final.at - processing.at < timedelta(hours=1, seconds=30)
    assert len(provider.polls) == 120
    assert len(provider.creates) == 1  # a timeout is not rerun
    assert provider.cancels == ["p1"]  # nothing the job started outlives it
    described = await env.client.get_workflow_handle(final.job.job_id).describe()
    assert described.typed_search_attributes.get(JOB_STATUS) == JobStatus.FAILED.value
