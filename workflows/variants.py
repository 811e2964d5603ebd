"""Variants of a generate job's images: a ProcessImage child workflow, behind PATCH_VARIANTS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError, is_cancelled_exception

from workflows.patches import PATCH_VARIANTS
from workflows.processing import ProcessImageWorkflow
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from core.image_jobs import (
        GENERATED_PRESETS,
        PROCESSABLE_TYPES,
        ImageSource,
        ProcessImageInput,
    )
    from core.jobs import GenerateMediaInput, JobError, StoredOutput, Variant, VariantFailure


@dataclass(frozen=True)
class Variants:
    """What the child made, and what it could not."""

    made: list[Variant]
    failed: list[VariantFailure]

    def fields(self) -> dict[str, Any]:
        """As the fields of the job's `completed` update."""
        return {"variants": self.made, "variant_failures": self.failed}


async def variants_of(
    steps: Steps, job: GenerateMediaInput, outputs: list[StoredOutput]
) -> Variants | None:
    """The variants of the job's image outputs (None: a job started before variants existed).

    The child's retries count as the job's. A child that fails as a whole (it never fails for
    a variant) lists every variant as failed: the job keeps its outputs all the same.
    """
    if not workflow.patched(PATCH_VARIANTS):
        return None
    sources = [
        ImageSource(output=index, key=output.key)
        for index, output in enumerate(outputs)
        if output.content_type in PROCESSABLE_TYPES
    ]
    if not sources:
        return Variants([], [])
    request = ProcessImageInput(
        job=job, sources=sources, presets=list(GENERATED_PRESETS), own_job=False
    )
    try:
        result = await workflow.execute_child_workflow(
            ProcessImageWorkflow.run,
            request,
            id=f"{job.job_id}-variants",
            static_summary=f"variants of {len(sources)} image(s)",
        )
    except ChildWorkflowError as err:
        if is_cancelled_exception(err):
            raise
        error = JobError(type="VariantsFailed", message=str(err.cause or err), retryable=True)
        failed = [
            VariantFailure(name=preset, output=source.output, error=error)
            for source in sources
            for preset in request.presets
        ]
        return Variants([], failed)
    steps.retries += result.retry_count
    return Variants(result.variants, result.failures)
