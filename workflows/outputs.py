"""Storing a prediction's outputs: in parallel, within the job's limits, all or nothing."""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows import policies
from workflows.failures import JobFailed
from workflows.patches import PATCH_OUTPUT_BOUNDS
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from core.jobs import GenerateMediaInput, JobError, Prediction, StoredOutput, StoreOutputInput


async def store_outputs(
    steps: Steps, job: GenerateMediaInput, prediction: Prediction
) -> list[StoredOutput]:
    """Store every output of `prediction`.

    Raises:
        JobFailed: no output, more outputs than the job's limit (nothing is stored), or one
            output failed for good (an output too large, say): the others are deleted.
    """
    if not prediction.output:
        raise JobFailed(
            JobError(type="NoOutput", message="the prediction produced no output", retryable=False)
        )
    if not workflow.patched(PATCH_OUTPUT_BOUNDS):
        return list(await asyncio.gather(*_stores(steps, job, prediction, max_bytes=None)))
    limits = job.limits
    if len(prediction.output) > limits.max_outputs:
        raise JobFailed(
            JobError(
                type="TooManyOutputs",
                message=f"the prediction has {len(prediction.output)} outputs;"
                f" a job may store {limits.max_outputs} (MAX_OUTPUTS)",
                retryable=False,
            )
        )
    stores = _stores(steps, job, prediction, max_bytes=limits.max_output_bytes)
    results = await asyncio.gather(*stores, return_exceptions=True)
    stored = [result for result in results if isinstance(result, StoredOutput)]
    failed = [result for result in results if isinstance(result, BaseException)]
    if not failed:
        return stored
    if stored:
        await _delete(steps, [output.key for output in stored])
    raise failed[0]


def _stores(
    steps: Steps, job: GenerateMediaInput, prediction: Prediction, *, max_bytes: int | None
) -> list[asyncio.Future[StoredOutput]]:
    return [
        asyncio.ensure_future(
            steps.run(
                JobActivities.store_output,
                StoreOutputInput(job_id=job.job_id, index=index, url=url, max_bytes=max_bytes),
                policies.STORE_OUTPUT,
                summary=f"store output {index}",
            )
        )
        for index, url in enumerate(prediction.output)
    ]


async def _delete(steps: Steps, keys: list[str]) -> None:
    """Best effort: a job that failed must not keep some of its outputs."""
    try:
        await steps.run(
            JobActivities.delete_outputs,
            keys,
            policies.DELETE_OUTPUTS,
            summary="delete stored outputs",
            counts_as_retry=False,
        )
    except JobFailed:
        workflow.logger.warning("could not delete the outputs %s of a failed job", keys)
