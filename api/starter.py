"""Starting jobs' workflows off the submit's path, from the `workflow_starts` outbox.

A submit commits its job's row and a `workflow_starts` row in one transaction and answers
at once (api/submit.py), so it never waits on Temporal and is accepted while Temporal is
down. Each API process runs a `WorkflowStarter`: woken by the outbox's NOTIFY (through the
process's LISTEN connection, api/job_events.py) and sweeping every `SWEEP_SECONDS` besides,
it claims due rows with `FOR UPDATE SKIP LOCKED` (so replicas share the work and never take
the same row), starts their workflows (id = job id: a workflow that already exists counts
as started, which is what makes a start after a crash safe to repeat) and deletes the rows
in the same transaction. A start that fails stays, due again after a backoff. A row that a
cancel flagged (api/cancel.py) is settled by cancelling the workflow its earlier, failed
start may still have made, instead.

A claimed row stays locked while its start is in flight: a cancel of that job waits for it
(api/cancel.py), then finds either the outbox row (not started: nothing will start) or a
workflow to cancel. A start never hangs longer than the client's RPC deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import col
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import TemporalConnector
from core.config import Settings
from core.db import SessionFactory
from core.image_jobs import ImageSource, ProcessImageInput
from core.jobs import PROCESS_WORKFLOW_NAME, WORKFLOW_NAME, JobKind, JobStatus, OutputLimits
from core.keys import upload_key
from core.models import Job, WorkflowStart, job_input, utcnow
from core.search_attributes import JOB_KIND, JOB_STATUS, MODEL_NAME, OWNER

log = logging.getLogger(__name__)
# The channel a submit notifies in its own transaction (delivered when it commits).
WORKFLOW_STARTS_CHANNEL = "workflow_starts"
# A safety sweep: rows whose NOTIFY was missed, and starts that failed and are due again.
SWEEP_SECONDS = 1.0
# Rows claimed (and started concurrently) per transaction.
BATCH = 50
# A failed start is due again after this backoff, doubling per attempt up to the longest:
# short, so that jobs start within seconds of Temporal coming back.
RETRY_FIRST, RETRY_LONGEST = timedelta(seconds=0.5), timedelta(seconds=5)


def notify_starters() -> sa.Select[tuple[object]]:
    """The statement that wakes every process's starter once its transaction commits."""
    return sa.select(sa.func.pg_notify(WORKFLOW_STARTS_CHANNEL, ""))


def _workflow_input(job: Job, limits: OutputLimits) -> tuple[str, BaseModel, str]:
    """The workflow that runs a job, its input, and its summary in the Temporal Web UI."""
    if job.kind == JobKind.PROCESS:
        presets = [str(name) for name in job.parameters.get("variants", [])]
        source = ImageSource(output=0, key=upload_key(str(job.id)))
        process = ProcessImageInput(
            job=job_input(job, limits), sources=[source], presets=presets, own_job=True
        )
        filename = str(job.parameters.get("filename", ""))
        return PROCESS_WORKFLOW_NAME, process, f"upload: {filename[:120]}"
    return WORKFLOW_NAME, job_input(job, limits), f"{job.model_name}: {job.prompt[:120]}"


async def start_workflow(
    temporal: Client, job: Job, *, task_queue: str, limits: OutputLimits
) -> None:
    """Start the job's workflow (by its kind); one that already exists counts as started."""
    attributes = [
        SearchAttributePair(JOB_STATUS, JobStatus.PENDING.value),
        SearchAttributePair(JOB_KIND, job.kind),
    ]
    if job.model_name:  # a process job has no model
        attributes.append(SearchAttributePair(MODEL_NAME, job.model_name))
    if job.owner is not None:
        attributes.append(SearchAttributePair(OWNER, job.owner))
    workflow, arg, summary = _workflow_input(job, limits)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow(
            workflow,
            arg,
            id=str(job.id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(attributes),
            memo={"prompt": job.prompt},
            static_summary=summary,
        )


def _backoff(attempts: int) -> timedelta:
    doubled: timedelta = RETRY_FIRST * (1 << max(attempts - 1, 0))
    return min(doubled, RETRY_LONGEST)


class WorkflowStarter:
    """This process's share of the outbox: claims due rows and starts their workflows."""

    def __init__(
        self, sessions: SessionFactory, temporal: TemporalConnector, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._task_queue = settings.temporal_task_queue
        self._limits = settings.output_limits()
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something may be due (a NOTIFY, or the LISTEN connection was re-established)."""
        self._woken.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="workflow-starter")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._woken.clear()  # before the claim: a submit committed during it wakes the next
            try:
                while await self.start_due() == BATCH:
                    pass
            except Exception as exc:  # the database is down: the sweep tries again
                log.warning("workflow starter: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), SWEEP_SECONDS)

    async def start_due(self, limit: int = BATCH) -> int:
        """Claim up to `limit` due rows, start their workflows, and settle the rows in the
        same transaction; returns how many rows were claimed."""
        claim = (
            sa.select(Job, WorkflowStart)
            .join(WorkflowStart, col(WorkflowStart.job_id) == col(Job.id))
            .where(col(WorkflowStart.due_at) <= utcnow())
            .order_by(col(WorkflowStart.due_at))
            .limit(limit)
            .with_for_update(of=WorkflowStart, skip_locked=True)
        )
        async with self._sessions() as session:
            claimed = (await session.execute(claim)).tuples().all()
            if not claimed:
                await session.rollback()
                return 0
            errors = await self._settle_all(list(claimed))
            started = [job.id for job, _ in claimed if job.id not in errors]
            if started:
                await session.execute(
                    sa.delete(WorkflowStart).where(col(WorkflowStart.job_id).in_(started))
                )
            for job, row in claimed:
                if job.id in errors:
                    row.attempts += 1
                    row.due_at = utcnow() + _backoff(row.attempts)
                    row.last_error = errors[job.id][:500]
            await session.commit()
        if errors:
            log.warning(
                "could not start %d of %d workflows; they are tried again",
                len(errors),
                len(claimed),
                extra={"error": next(iter(errors.values()))},
            )
        return len(claimed)

    async def _settle_all(self, claimed: list[tuple[Job, WorkflowStart]]) -> dict[object, str]:
        """Start the claimed jobs' workflows (or cancel a canceled one's) at once; the errors
        of those not settled, by job id."""
        try:
            temporal = await self._temporal.get()
        except Exception as exc:
            return {job.id: str(exc) for job, _ in claimed}
        outcomes = await asyncio.gather(
            *(self._settle(temporal, job, canceled=row.canceled) for job, row in claimed),
            return_exceptions=True,
        )
        errors: dict[object, str] = {}
        for (job, _), outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation: the transaction rolls back, rows stay due
                errors[job.id] = f"{type(outcome).__name__}: {outcome}"
        return errors

    async def _settle(self, temporal: Client, job: Job, *, canceled: bool) -> None:
        if not canceled:
            await start_workflow(temporal, job, task_queue=self._task_queue, limits=self._limits)
            return
        try:  # the job was canceled after a start was tried: undo that start, if it happened
            await temporal.get_workflow_handle(str(job.id)).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
