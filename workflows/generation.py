"""GenerateMedia: one workflow per job, from prompt to stored media.

create prediction → wait for it (webhook signal or timer poll, never a held worker slot)
→ store each output → their variants (a child workflow) → write metadata → completed; every
status change is mirrored into PostgreSQL, and the job's status and model are upserted as
search attributes for the Temporal Web UI. A failed job fails the workflow; a cancelled job
cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

from workflows import policies
from workflows.failures import JobFailed, prediction_error
from workflows.mirror import mirror, notify
from workflows.outputs import store_outputs
from workflows.patches import (
    PATCH_CREATE_SURVIVES_CANCEL,
    PATCH_ENDS_ARE_FINAL,
    PATCH_LAST_WORD,
    PATCH_LOCAL_STEPS,
    PATCH_METADATA_LISTS_VARIANTS,
    PATCH_NOTIFY_EVERY_END,
    PATCH_PAY_ONCE,
    PATCH_STARTS_HEARD,
)
from workflows.steps import Steps, uncancelled
from workflows.variants import Variants, variants_of
from workflows.watch import PredictionWatch

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from core.jobs import (
        PREDICTION_SIGNAL,
        WORKFLOW_NAME,
        CreatePredictionInput,
        CreatePredictionResult,
        GenerateMediaInput,
        GenerateMediaResult,
        JobStatus,
        MetadataInput,
        Prediction,
        PredictionStatus,
        StoredOutput,
    )
    from core.keys import metadata_key


@workflow.defn(name=WORKFLOW_NAME)
class GenerateMediaWorkflow:
    """Runs one generation job; the workflow id is the job id."""

    def __init__(self) -> None:
        self._steps = Steps()
        self._status = JobStatus.PENDING
        self._watch = PredictionWatch(self._steps)
        self._creating: asyncio.Future[CreatePredictionResult] | None = None

    @workflow.signal(name=PREDICTION_SIGNAL)
    def prediction_updated(self, prediction: Prediction) -> None:
        """The provider's webhook, relayed by the API: wakes the wait without a poll."""
        self._watch.push(prediction)

    @workflow.query
    def status(self) -> str:
        return self._status.value

    @workflow.run
    async def run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        try:
            return await self._run(job)
        finally:
            # A webhook heard while the end was recorded is handled before the workflow
            # closes: Temporal delivers a signal that races the close to this last word.
            if workflow.patched(PATCH_LAST_WORD):
                await uncancelled(self._watch.cancel_orphans())

    async def _run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        ends_are_final = False
        try:
            prediction = await self._predict(job)
            outputs = await self._store_outputs(job, prediction)
            ends_are_final = workflow.patched(PATCH_ENDS_ARE_FINAL)
            if not ends_are_final:
                await self._mirror(job, JobStatus.COMPLETED, outputs=outputs, progress=1.0)
            variants = await variants_of(self._steps, job, outputs) if ends_are_final else None
            if workflow.patched(PATCH_METADATA_LISTS_VARIANTS):
                await self._write_metadata(job, prediction, outputs, variants)
        except JobFailed as failure:
            if workflow.patched(PATCH_ENDS_ARE_FINAL):
                await uncancelled(self._fail(job, failure, final=True))
            else:
                await self._fail(job, failure, final=False)
            raise ApplicationError(
                failure.error.message, type=failure.error.type, non_retryable=True
            ) from None
        except BaseException as exc:
            if is_cancelled_exception(exc):
                await self._cancel(job)
                await self._notify_end(job)
            raise
        if ends_are_final:
            await uncancelled(self._complete(job, outputs, variants))
        elif job.webhook_url:
            await notify(self._steps, job)
        return GenerateMediaResult(
            job_id=job.job_id,
            status=JobStatus.COMPLETED,
            external_job_id=prediction.id,
            outputs=outputs,
            metadata_key=metadata_key(job.job_id),
            retry_count=self._steps.retries,
            variants=variants.made if variants else [],
        )

    async def _complete(
        self, job: GenerateMediaInput, outputs: list[StoredOutput], variants: Variants | None
    ) -> None:
        """The media are stored: the job is completed, and its webhook told."""
        fields = variants.fields() if variants else {}
        await self._mirror(
            job, JobStatus.COMPLETED, final=True, outputs=outputs, progress=1.0, **fields
        )
        if job.webhook_url:
            await notify(self._steps, job)

    async def _fail(self, job: GenerateMediaInput, failure: JobFailed, *, final: bool) -> None:
        """Stop what the job started, record the failure, tell the job's webhook."""
        if workflow.patched(PATCH_PAY_ONCE):  # nothing we started outlives the job
            await self._watch.stop()
        with contextlib.suppress(JobFailed):  # a row we cannot write must not hide the failure
            await self._mirror(job, JobStatus.FAILED, final=final, error=failure.error)
        await self._notify_end(job)

    async def _predict(self, job: GenerateMediaInput) -> Prediction:
        """Create and await a prediction, running it again if it fails through no user fault."""
        rerun = policies.PREDICTION_RERUN
        attempt = 1
        while True:
            created = await self._create(job, attempt)
            self._watch.adopt(created.prediction)
            # After a rerun the row names the prediction now running, as metadata will.
            if self._status is JobStatus.PENDING or workflow.patched(PATCH_PAY_ONCE):
                await self._mirror(job, JobStatus.PROCESSING, external_job_id=created.prediction.id)
            prediction = await self._watch.wait(webhook=created.webhook)
            if prediction.status is PredictionStatus.SUCCEEDED:
                return prediction
            error = prediction_error(prediction)
            if not error.retryable or attempt >= (rerun.maximum_attempts or attempt + 1):
                raise JobFailed(error)
            self._steps.retries += 1
            await workflow.sleep(policies.backoff_delay(rerun, attempt))
            attempt += 1

    async def _create(self, job: GenerateMediaInput, attempt: int) -> CreatePredictionResult:
        summary = f"create prediction ({job.model_name})"
        if workflow.patched(PATCH_PAY_ONCE):
            request = CreatePredictionInput(
                job=job,
                job_attempt=attempt,
                cancel_after_seconds=int(policies.PROVIDER_CANCEL_AFTER.total_seconds()),
            )
            step = self._steps.run(
                JobActivities.start_prediction, request, policies.CREATE_PREDICTION, summary=summary
            )
        else:
            step = self._steps.run(
                JobActivities.create_prediction, job, policies.CREATE_PREDICTION, summary=summary
            )
        if not workflow.patched(PATCH_CREATE_SURVIVES_CANCEL):
            return await step
        # Shielded: a cancel must not orphan a prediction the provider is already creating.
        self._creating = asyncio.ensure_future(step)
        return await asyncio.shield(self._creating)

    async def _store_outputs(
        self, job: GenerateMediaInput, prediction: Prediction
    ) -> list[StoredOutput]:
        """Store every output (in parallel); before the patch, the metadata document too."""
        outputs = await store_outputs(self._steps, job, prediction)
        await self._watch.cancel_orphans()
        if not workflow.patched(PATCH_METADATA_LISTS_VARIANTS):
            await self._write_metadata(job, prediction, outputs, None)
        return outputs

    async def _write_metadata(
        self,
        job: GenerateMediaInput,
        prediction: Prediction,
        outputs: list[StoredOutput],
        variants: Variants | None,
    ) -> None:
        """The metadata document beside the media: the job, its outputs and their variants."""
        await self._steps.run(
            JobActivities.write_metadata,
            MetadataInput(
                job=job,
                prediction=prediction,
                outputs=outputs,
                completed_at=workflow.now(),
                orphans=self._watch.orphans,
                **(variants.fields() if variants else {}),
            ),
            policies.WRITE_METADATA,
            summary="write metadata",
            local=workflow.patched(PATCH_LOCAL_STEPS),
        )

    async def _cancel(self, job: GenerateMediaInput) -> None:
        """Cancel the provider's prediction and mark the job canceled; stored media stay."""
        watch = self._watch
        if self._creating is not None:
            with contextlib.suppress(JobFailed):  # a create that failed left nothing to cancel
                created = (await self._creating).prediction
                if watch.current is None or watch.current.id != created.id:
                    watch.adopt(created)
        await watch.stop()
        external_id = watch.current.id if watch.current is not None else None
        await self._mirror(job, JobStatus.CANCELED, external_job_id=external_id)

    async def _notify_end(self, job: GenerateMediaInput) -> None:
        if job.webhook_url and workflow.patched(PATCH_NOTIFY_EVERY_END):
            await notify(self._steps, job)

    async def _mirror(
        self, job: GenerateMediaInput, status: JobStatus, *, final: bool = False, **fields: Any
    ) -> None:
        """Record a status change; the starts the row kept while the job created its own
        prediction come back with it, and those not the job's own are stopped: by the wait,
        or by the last word of a job that ended first (cancelled or failed while creating)."""
        self._status = status
        heard = await mirror(self._steps, job, status, final=final, **fields)
        if heard and workflow.patched(PATCH_STARTS_HEARD):
            self._watch.heard_starts(heard)
