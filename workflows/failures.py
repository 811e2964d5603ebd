"""How the job workflow turns what went wrong into the error stored with the job.

Pure functions over the SDK's exception types and our contract: no I/O, so they run in
the workflow sandbox and replay identically.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from workflows.policies import Step

with workflow.unsafe.imports_passed_through():
    from core.jobs import JobError, Prediction, PredictionStatus


class JobFailed(Exception):
    """The job cannot complete; carries what is stored as its error."""

    def __init__(self, error: JobError, attempts: int = 1) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


def prediction_error(prediction: Prediction) -> JobError:
    """The error of a prediction that ended without succeeding; the user's fault is final."""
    if prediction.status is PredictionStatus.CANCELED:
        return JobError(
            type="PredictionCanceled",
            message="the provider canceled the prediction",
            retryable=True,
        )
    message = prediction.error or "the prediction failed"
    if prediction.user_error:
        return JobError(type="UserInputError", message=message, retryable=False)
    return JobError(type="PredictionFailed", message=message, retryable=True)


def activity_failure(err: ActivityError, step: Step) -> JobFailed:
    """The job error for an activity that failed for good, with how many attempts it made.

    The activity reports its attempt in the error's details (`activities.errors`); when it
    did not get to (a timeout), the retry state says whether the policy ran out.
    """
    cause = err.cause
    attempts = (
        step.retry.maximum_attempts if err.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED else 1
    )
    if isinstance(cause, ApplicationError):
        if cause.details and isinstance(cause.details[0], int):
            attempts = cause.details[0]
        error = JobError(
            type=cause.type or "ApplicationError",
            message=cause.message,
            retryable=not cause.non_retryable,
        )
    else:
        error = JobError(
            type=type(cause).__name__ if cause else "ActivityError",
            message=str(cause or err),
            retryable=True,
        )
    return JobFailed(error, attempts)
