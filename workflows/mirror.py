"""Recording a job's status change, and telling its webhook of its end, the same way for both
kinds of job workflow."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows import policies
from workflows.failures import JobFailed
from workflows.patches import PATCH_LOCAL_STEPS
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from core.jobs import GenerateMediaInput, JobStatus, JobUpdate
    from core.search_attributes import JOB_STATUS


async def mirror(
    steps: Steps,
    job: GenerateMediaInput,
    status: JobStatus,
    *,
    final: bool = False,
    **fields: Any,
) -> list[str]:
    """Record a status change: the search attribute, then the PostgreSQL row. Returns the
    other predictions whose `start` the row heard (`MirrorResult.starts_heard`).

    A `final` change (the job's decided end) runs as a regular activity: a local one runs
    inside a workflow task that Temporal rejects if a cancel comes meanwhile, leaving a
    row written by a task whose replay may then take the cancel first.
    """
    workflow.upsert_search_attributes([JOB_STATUS.value_set(status.value)])
    update = JobUpdate(
        job=job, status=status, at=workflow.now(), retry_count=steps.retries, **fields
    )
    # The mirror's own retries are known once it returns; they reach the row with the next
    # change.
    mirrored = await steps.run(
        JobActivities.mirror_status,
        update,
        policies.MIRROR_STATUS,
        summary=f"mirror status {status.value}",
        local=not final and workflow.patched(PATCH_LOCAL_STEPS),
    )
    return mirrored.starts_heard


async def notify(steps: Steps, job: GenerateMediaInput) -> None:
    """POST the final job document to the user's webhook; its failure is not the job's."""
    try:
        await steps.run(
            JobActivities.notify_webhook,
            job,
            policies.NOTIFY_WEBHOOK,
            summary="notify webhook",
            counts_as_retry=False,
        )
    except JobFailed:
        workflow.logger.warning("the job's webhook could not be notified")
