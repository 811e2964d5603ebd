"""ProcessImage: the variants of an image, as a job of its own or as a generate job's step.

An upload's job (`own_job`): probe the image → one activity per variant, in parallel →
metadata → completed; every status change mirrored like a generate job's, and its end told to
the upload's `webhook_url` if it has one. It fails only when no variant could be made (an
unreadable image fails them all, `InvalidImage`); the variants that failed beside ones that
worked are listed with the job.

A generate job runs it as a child workflow for its image outputs: variants only, never a
failure (what failed is listed), since a variant must not cost the job its output.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

from workflows import policies
from workflows.failures import JobFailed
from workflows.mirror import mirror, notify
from workflows.patches import PATCH_UPLOAD_WEBHOOK
from workflows.steps import Steps, uncancelled

with workflow.unsafe.imports_passed_through():
    from activities.images import ImageActivities
    from core.image_jobs import (
        ImageSource,
        ProcessImageInput,
        ProcessImageResult,
        ProcessMetadataInput,
        VariantRequest,
    )
    from core.jobs import (
        PROCESS_WORKFLOW_NAME,
        GenerateMediaInput,
        JobStatus,
        Variant,
        VariantFailure,
    )


@workflow.defn(name=PROCESS_WORKFLOW_NAME)
class ProcessImageWorkflow:
    """Makes the variants of a job's images; the workflow id is the job id (an upload's)."""

    def __init__(self) -> None:
        self._steps = Steps()
        self._status = JobStatus.PENDING

    @workflow.query
    def status(self) -> str:
        return self._status.value

    @workflow.run
    async def run(self, request: ProcessImageInput) -> ProcessImageResult:
        if not request.own_job:
            variants, failures = await self._variants(request)
            return self._result(request, JobStatus.COMPLETED, variants, failures)
        job = request.job
        try:
            await self._mirror(job, JobStatus.PROCESSING)
            variants, failures = await self._process(request)
        except JobFailed as failure:
            await uncancelled(self._end(job, JobStatus.FAILED, error=failure.error))
            raise ApplicationError(
                failure.error.message, type=failure.error.type, non_retryable=True
            ) from None
        except BaseException as exc:
            if is_cancelled_exception(exc):
                await self._mirror(job, JobStatus.CANCELED)
                await self._notify(job)
            raise
        await uncancelled(
            self._end(
                job,
                JobStatus.COMPLETED,
                progress=1.0,
                variants=variants,
                variant_failures=failures,
            )
        )
        return self._result(request, JobStatus.COMPLETED, variants, failures)

    async def _process(
        self, request: ProcessImageInput
    ) -> tuple[list[Variant], list[VariantFailure]]:
        """Probe, make the variants, write the metadata: an upload's job.

        Raises:
            JobFailed: the image is unreadable, or not one variant could be made.
        """
        probe = await self._steps.run(
            ImageActivities.probe_image,
            request.sources[0],
            policies.PROBE_IMAGE,
            summary="probe image",
        )
        variants, failures = await self._variants(request)
        if not variants and failures:
            raise JobFailed(failures[0].error)
        await self._steps.run(
            ImageActivities.write_process_metadata,
            ProcessMetadataInput(
                job=request.job, probe=probe, variants=variants, failures=failures
            ),
            policies.WRITE_METADATA,
            summary="write metadata",
        )
        return variants, failures

    async def _variants(
        self, request: ProcessImageInput
    ) -> tuple[list[Variant], list[VariantFailure]]:
        """Every preset of every source, in parallel; what failed is returned, not raised."""
        wanted = [(source, preset) for source in request.sources for preset in request.presets]
        results = await asyncio.gather(
            *(self._variant(request.job, source, preset) for source, preset in wanted),
            return_exceptions=True,
        )
        variants: list[Variant] = []
        failures: list[VariantFailure] = []
        for (source, preset), result in zip(wanted, results, strict=True):
            if isinstance(result, Variant):
                variants.append(result)
            elif isinstance(result, JobFailed):
                failures.append(
                    VariantFailure(name=preset, output=source.output, error=result.error)
                )
            else:  # a cancel, or a bug: not a variant's failure to list
                raise result
        return variants, failures

    async def _variant(self, job: GenerateMediaInput, source: ImageSource, preset: str) -> Variant:
        return await self._steps.run(
            ImageActivities.make_variant,
            VariantRequest(job_id=job.job_id, source=source, preset=preset),
            policies.MAKE_VARIANT,
            summary=f"variant {preset} of image {source.output}",
        )

    async def _mirror(
        self, job: GenerateMediaInput, status: JobStatus, *, final: bool = False, **fields: object
    ) -> None:
        self._status = status
        await mirror(self._steps, job, status, final=final, **fields)

    async def _end(self, job: GenerateMediaInput, status: JobStatus, **fields: object) -> None:
        """Record the job's decided end, then tell its webhook."""
        await self._mirror(job, status, final=True, **fields)
        await self._notify(job)

    async def _notify(self, job: GenerateMediaInput) -> None:
        """Only an upload sent with a `webhook_url` has one to tell (none did before the patch)."""
        if job.webhook_url and workflow.patched(PATCH_UPLOAD_WEBHOOK):
            await notify(self._steps, job)

    def _result(
        self,
        request: ProcessImageInput,
        status: JobStatus,
        variants: list[Variant],
        failures: list[VariantFailure],
    ) -> ProcessImageResult:
        return ProcessImageResult(
            job_id=request.job.job_id,
            status=status,
            variants=variants,
            failures=failures,
            retry_count=self._steps.retries,
        )
