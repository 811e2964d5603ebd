"""Webhooks arrive in any order: a late `start` never hides an end already heard of."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from temporalio.worker import Worker

from core.jobs import PREDICTION_SIGNAL, GenerateMediaInput, JobStatus, PredictionStatus
from tests.workflows.harness import FakeProvider, prediction
from worker.main import WORKFLOW_RUNNER
from workflows.generation import GenerateMediaWorkflow


async def test_a_start_webhook_after_the_completed_one_does_not_undo_it(env):
    running = prediction(1, PredictionStatus.PROCESSING)
    provider = FakeProvider(created=[running], polled=[running], webhook=True)
    task_queue = f"webhook-order-{uuid.uuid4()}"
    job = GenerateMediaInput(
        job_id=str(uuid.uuid4()),
        prompt="an owl out of order",
        model_name="black-forest-labs/flux-schnell",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[GenerateMediaWorkflow],
        activities=provider.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await env.client.start_workflow(
            GenerateMediaWorkflow.run, job, id=job.job_id, task_queue=task_queue
        )
        await handle.signal(PREDICTION_SIGNAL, prediction(1, PredictionStatus.SUCCEEDED))
        await handle.signal(PREDICTION_SIGNAL, running)  # the `start` webhook, delivered late

        result = await handle.result()

    assert result.status is JobStatus.COMPLETED
    assert result.external_job_id == "p1"
    assert len(result.outputs) == 1
    assert provider.cancels == []
