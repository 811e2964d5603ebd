"""The error a reconciled job gets names how its workflow closed, and why where Temporal says."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, TerminatedError, TimeoutError, TimeoutType

from activities.reconcile import failure_error

TERMINATED = WorkflowExecutionStatus.TERMINATED


def closed(cause: BaseException) -> WorkflowFailureError:
    return WorkflowFailureError(cause=cause)


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        (
            TerminatedError("stuck on a bad node"),
            "the job's workflow was terminated: stuck on a bad node",
        ),
        (TerminatedError("Workflow terminated"), "the job's workflow was terminated"),
        # The SDK takes a positional argument of `terminate` for a detail, not the reason.
        (
            TerminatedError("", "the job row was not committed"),
            "the job's workflow was terminated: the job row was not committed",
        ),
    ],
)
def test_a_terminated_job_names_the_reason_it_was_given(cause, message):
    error = failure_error(TERMINATED, closed(cause))

    assert (error.type, error.message, error.retryable) == ("WorkflowTerminated", message, True)


def test_a_timed_out_job_says_so():
    cause = TimeoutError(
        "Workflow timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
    )

    error = failure_error(WorkflowExecutionStatus.TIMED_OUT, closed(cause))

    assert (error.type, error.message) == ("WorkflowTimedOut", "the job's workflow timed out")


def test_a_failed_workflow_names_its_failure():
    error = failure_error(WorkflowExecutionStatus.FAILED, closed(ApplicationError("boom")))

    assert (error.type, error.message) == ("WorkflowFailed", "the job's workflow failed: boom")
