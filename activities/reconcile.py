"""ReconcileActivities: read how a job's workflow closed and write that end into its row.

The row is written only while it is not terminal (`core.repository.settle_job`), so a job
whose own mirror lands meanwhile keeps what its workflow wrote. A row it settles has its
predictions cancelled: a run that closed unawares stopped nothing. Rows still in the start
outbox are not read (their workflows are the API's starters' to start). A row whose workflow
does not exist is left alone: a row leaves the outbox only once its workflow has started
(api/starter.py), so a missing workflow means Temporal no longer has it (its history
passed the namespace's retention) or the worker looks at the wrong namespace, and failing
every row in the second case would be a disaster no log line could undo.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import classified
from activities.urls import Urls
from core.db import SessionFactory
from core.jobs import GenerateMediaResult, JobError, JobStatus, JobUpdate
from core.models import Job, job_input
from core.reconcile import JobCursor, ReconcileBatchInput, ReconcileBatchResult, SettledJob
from core.replicate import ReplicateClient
from core.repository import list_unfinished_jobs, settle_job

# Describes in flight at once: enough to finish a page in seconds, few enough that a run
# never competes with the API's calls for the frontend's attention.
DESCRIBE_CONCURRENCY = 10
# Each describe or result fetch is one small call; this long without an answer is an outage.
RPC_TIMEOUT = timedelta(seconds=10)
# A cancel at the provider of what a settled job left running; well within the heartbeat.
CANCEL_TIMEOUT = timedelta(seconds=10)
# The reason the SDK reports for a terminate that gave none.
NO_REASON = "Workflow terminated"

# The error of each close that fails the job. None of them is the request's fault, so a
# new submission may well succeed: retryable.
FAILED_CLOSES: dict[WorkflowExecutionStatus, JobError] = {
    status: JobError(type=kind, message=f"the job's workflow {verb}", retryable=True)
    for status, kind, verb in [
        (WorkflowExecutionStatus.TERMINATED, "WorkflowTerminated", "was terminated"),
        (WorkflowExecutionStatus.TIMED_OUT, "WorkflowTimedOut", "timed out"),
        (WorkflowExecutionStatus.FAILED, "WorkflowFailed", "failed"),
    ]
}
CLOSED = {WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CANCELED, *FAILED_CLOSES}


class Unreadable(Exception):
    """A closed workflow's end could not be read (its result does not decode)."""


def failure_error(status: WorkflowExecutionStatus, failure: WorkflowFailureError) -> JobError:
    """The job's error for a run that closed `status`, naming why: the terminate's reason
    (and its details, where a caller passed the reason positionally, as the SDK takes it
    for details) or the workflow's failure."""
    error = FAILED_CLOSES.get(status, FAILED_CLOSES[WorkflowExecutionStatus.FAILED])
    cause = failure.cause
    if isinstance(cause, TerminatedError):
        reasons = [cause.message] if cause.message not in ("", NO_REASON) else []
        why = "; ".join(reasons + [d for d in cause.details if isinstance(d, str) and d])
    else:
        why = "" if status is WorkflowExecutionStatus.TIMED_OUT or cause is None else str(cause)
    return error.model_copy(update={"message": f"{error.message}: {why}"}) if why else error


class ReconcileActivities:
    """The reconciler's activity; the session factory and the clients are passed in."""

    def __init__(
        self, *, sessions: SessionFactory, temporal: Client, replicate: ReplicateClient, urls: Urls
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._replicate = replicate
        self._urls = urls

    @activity.defn
    @classified
    async def reconcile_batch(self, request: ReconcileBatchInput) -> ReconcileBatchResult:
        """Settle one page of quiet unfinished rows whose workflow has closed.

        Safe to repeat: a settled row is terminal and leaves the page. Temporal or the
        database failing raises (the page is tried again); a workflow whose end cannot be
        read is logged and skipped, so one bad row never blocks the rows after it.
        """
        cursor = request.after
        async with self._sessions() as session:
            rows = await list_unfinished_jobs(
                session,
                updated_before=request.updated_before,
                after=(cursor.created_at, uuid.UUID(cursor.job_id)) if cursor else None,
                limit=request.limit,
            )
        result = ReconcileBatchResult(examined=len(rows), attempt=activity.info().attempt)
        gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def one(row: Job) -> None:
            async with gate:
                try:
                    settled = await self._reconcile(row)
                except LookupError:
                    activity.logger.warning("job %s is %s with no workflow", row.id, row.status)
                    result.missing.append(str(row.id))
                except Unreadable:
                    activity.logger.exception("job %s: its workflow's end is unreadable", row.id)
                    result.errors.append(str(row.id))
                else:
                    if settled is not None:
                        result.settled.append(settled)
            activity.heartbeat()

        try:
            async with asyncio.TaskGroup() as group:  # one failing call cancels the rest
                for row in rows:
                    group.create_task(one(row))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # its type names the outage in the history
        if len(rows) == request.limit:
            result.next = JobCursor(created_at=rows[-1].created_at, job_id=str(rows[-1].id))
        return result

    async def _reconcile(self, row: Job) -> SettledJob | None:
        """Describe the row's workflow and, if it has closed, write its end into the row.

        Raises:
            LookupError: the workflow does not exist.
            Unreadable: it completed, but its result does not decode.
        """
        job_id = str(row.id)
        try:
            description = await self._temporal.get_workflow_handle(job_id).describe(
                rpc_timeout=RPC_TIMEOUT
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LookupError(job_id) from err
            raise
        status = description.status
        if status is None or status not in CLOSED:
            return None
        update = await self._update(row, description, status)
        async with self._sessions() as session:
            left = await settle_job(session, update, result_url=self._urls.download(job_id))
        if left is None:  # its own mirror got there first
            return None
        if update.status is JobStatus.COMPLETED:  # its own prediction succeeded
            left = [p for p in left if p != update.external_job_id]
        await self._stop_predictions(job_id, left)
        activity.logger.warning(
            "job %s: workflow %s, row was %s; now %s",
            job_id,
            status.name,
            row.status,
            update.status,
        )
        return SettledJob(job_id=job_id, status=update.status.value, workflow_status=status.name)

    async def _stop_predictions(self, job_id: str, prediction_ids: list[str]) -> None:
        """Cancel what a workflow that closed unawares may have left running (a terminated
        run stops nothing): its prediction and the starts its row kept. Harmless for those
        already ended. Best effort, since the row is settled already: the provider's own
        Cancel-After stops any it cannot reach, and a failed cancel never fails the page.
        """
        for prediction_id in prediction_ids:
            activity.heartbeat()
            try:
                async with asyncio.timeout(CANCEL_TIMEOUT.total_seconds()):
                    await self._replicate.cancel_prediction(prediction_id)
            except Exception as exc:  # an outage, a timeout, an answer that is no prediction
                activity.logger.warning(
                    "job %s: prediction %s not canceled: %r", job_id, prediction_id, exc
                )

    async def _update(
        self, row: Job, description: WorkflowExecutionDescription, status: WorkflowExecutionStatus
    ) -> JobUpdate:
        """The row's end as the closed run tells it."""
        base = JobUpdate(
            job=job_input(row),
            status=JobStatus.CANCELED,
            at=description.close_time or datetime.now(UTC),
            retry_count=row.retry_count,
        )
        if status is WorkflowExecutionStatus.CANCELED:
            return base
        # This run's end, not a later run's: a reset starts a new run under the same id.
        handle = self._temporal.get_workflow_handle(
            str(row.id), run_id=description.run_id, result_type=GenerateMediaResult
        )
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
        except WorkflowFailureError as failure:
            error = failure_error(status, failure)
            return base.model_copy(update={"status": JobStatus.FAILED, "error": error})
        except RPCError:
            raise
        except Exception as exc:  # a bug to look at, not an outage to retry
            raise Unreadable(str(row.id)) from exc
        return base.model_copy(
            update={
                "status": JobStatus.COMPLETED,
                "external_job_id": result.external_job_id,
                "outputs": result.outputs,
                "progress": 1.0,
                "retry_count": max(row.retry_count, result.retry_count),
            }
        )
