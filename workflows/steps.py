"""`Steps`: how the job workflows run each activity, typed by the activity it names.

Each step's argument and result are checked by mypy against the activity method it runs
(of `JobActivities` or `ImageActivities`); its failures become `JobFailed` and its retries
are counted for the job's record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

from workflows.failures import activity_failure
from workflows.policies import Step


class Attempted(Protocol):
    """Every step's result says which attempt produced it (to count the job's retries)."""

    @property
    def attempt(self) -> int: ...


T = TypeVar("T")
OwnerT = TypeVar("OwnerT")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT", bound=Attempted)
ActivityMethod = Callable[[OwnerT, ArgT], Awaitable[ResultT]]


class Steps:
    """Runs the workflow's activities under their step policies and counts their retries."""

    def __init__(self) -> None:
        self.retries = 0

    async def run(
        self,
        activity: ActivityMethod[OwnerT, ArgT, ResultT],
        arg: ArgT,
        step: Step,
        *,
        summary: str,
        counts_as_retry: bool = True,
        local: bool = False,
    ) -> ResultT:
        """Run one activity (or local activity) under its step policy, counting its retries.

        The user's webhook is told after the row is final, so its retries are not counted:
        the row and the workflow's result must agree.

        Raises:
            JobFailed: the activity failed for good (its policy gave up or it was non-retryable).
        """
        try:
            if local:
                result = await workflow.execute_local_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=step.start_to_close,
                    retry_policy=step.retry,
                    summary=summary,
                )
            else:
                result = await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=step.start_to_close,
                    schedule_to_close_timeout=step.schedule_to_close,
                    heartbeat_timeout=step.heartbeat,
                    retry_policy=step.retry,
                    summary=summary,
                )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            failure = activity_failure(err, step)
            if counts_as_retry:
                self.retries += max(failure.attempts - 1, 0)
            raise failure from None
        if counts_as_retry:
            self.retries += result.attempt - 1
        return result


async def uncancelled(work: Awaitable[T]) -> T:
    """Finish `work` even if the workflow is cancelled meanwhile.

    For the steps after a job's end is decided (completed or failed): a cancel that comes
    then is too late, and must not leave the row saying one thing and Temporal another.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        workflow.logger.info("cancel ignored: the job has already ended")
        current = asyncio.current_task()
        if current is not None:  # else the next await re-raises the cancel (Python 3.11+)
            current.uncancel()
        return await task
