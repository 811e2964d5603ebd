"""Variants: an upload's ProcessImage job, and the child that every generated image gets."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from core.image_jobs import ImageSource, ProcessImageInput, ProcessImageResult
from core.jobs import JobError, JobKind, JobStatus, PredictionStatus
from core.keys import upload_key
from tests.workflows.harness import FakeProvider, job_input, prediction, run_job, running_worker
from workflows.processing import ProcessImageWorkflow

TWO_IMAGES = prediction(1, PredictionStatus.SUCCEEDED, outputs=2)
ALL_PRESETS = ["thumbnail", "preview", "compressed"]


async def process(
    env: WorkflowEnvironment, provider: FakeProvider, webhook_url: str | None = None
) -> ProcessImageResult:
    """Run an upload's job (every preset of its one image) to its end."""
    job = job_input(JobKind.PROCESS).model_copy(update={"webhook_url": webhook_url})
    request = ProcessImageInput(
        job=job, sources=[ImageSource(output=0, key=upload_key(job.job_id))], presets=ALL_PRESETS
    )
    async with running_worker(env, provider) as task_queue:
        return await env.client.execute_workflow(
            ProcessImageWorkflow.run, request, id=job.job_id, task_queue=task_queue
        )


async def test_a_generated_job_lists_a_thumbnail_and_a_preview_of_each_image(
    env: WorkflowEnvironment,
):
    provider = FakeProvider(created=[TWO_IMAGES])

    result = await run_job(env, provider)

    made = sorted((variant.output, variant.name) for variant in result.variants)
    assert made == [(0, "preview"), (0, "thumbnail"), (1, "preview"), (1, "thumbnail")]
    completed = provider.updates[-1]
    assert completed.status is JobStatus.COMPLETED
    assert completed.variants == result.variants
    assert completed.variant_failures == []
    [metadata] = provider.metadata  # written once, after the variants, listing them
    assert (metadata.variants, metadata.variant_failures) == (result.variants, [])


async def test_a_variant_that_fails_never_costs_the_job_its_output(env: WorkflowEnvironment):
    provider = FakeProvider(created=[TWO_IMAGES], broken_presets={"preview"})

    result = await run_job(env, provider)

    assert result.status is JobStatus.COMPLETED
    assert len(result.outputs) == 2
    assert {variant.name for variant in result.variants} == {"thumbnail"}
    failures = provider.updates[-1].variant_failures
    assert failures is not None
    assert sorted((failure.output, failure.name) for failure in failures) == [
        (0, "preview"),
        (1, "preview"),
    ]
    assert failures[0].error == JobError(type="InvalidImage", message="unreadable", retryable=False)


async def test_an_upload_is_processed_into_every_preset_it_asked_for(env: WorkflowEnvironment):
    provider = FakeProvider(created=[])

    result = await process(env, provider)

    assert sorted(variant.name for variant in result.variants) == sorted(ALL_PRESETS)
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.COMPLETED]
    assert provider.updates[-1].variants == result.variants
    assert provider.notified == []  # no webhook_url: nobody to tell


async def test_an_upload_tells_its_webhook_of_its_end_however_it_ends(env: WorkflowEnvironment):
    completes = FakeProvider(created=[])
    fails = FakeProvider(created=[], broken_presets=set(ALL_PRESETS))

    done = await process(env, completes, webhook_url="https://hooks.example/done")
    with pytest.raises(WorkflowFailureError):
        await process(env, fails, webhook_url="https://hooks.example/failed")

    assert completes.notified == [done.job_id]
    assert fails.notified == [fails.updates[-1].job.job_id]
    assert fails.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]


async def test_an_upload_no_variant_could_be_made_of_fails_its_job(env: WorkflowEnvironment):
    provider = FakeProvider(created=[], broken_presets=set(ALL_PRESETS))

    with pytest.raises(WorkflowFailureError) as raised:
        await process(env, provider)

    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("InvalidImage", True)
    assert len(provider.variants) == len(ALL_PRESETS)  # not retried: each tried once
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.FAILED]
    assert provider.updates[-1].error == JobError(
        type="InvalidImage", message="unreadable", retryable=False
    )


async def test_an_upload_cancelled_mid_processing_ends_canceled(env: WorkflowEnvironment):
    provider = FakeProvider(created=[], variant_gate=asyncio.Event())
    job = job_input(JobKind.PROCESS)
    request = ProcessImageInput(
        job=job, sources=[ImageSource(output=0, key=upload_key(job.job_id))], presets=ALL_PRESETS
    )
    async with running_worker(env, provider) as task_queue:
        handle = await env.client.start_workflow(
            ProcessImageWorkflow.run, request, id=job.job_id, task_queue=task_queue
        )
        while True:  # every variant is under way
            provider.variant_began.clear()
            if len(provider.variants) == len(ALL_PRESETS):
                break
            await provider.variant_began.wait()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()
        assert provider.variant_gate is not None
        provider.variant_gate.set()

    assert isinstance(raised.value.cause, CancelledError)
    assert provider.statuses() == [JobStatus.PROCESSING, JobStatus.CANCELED]
