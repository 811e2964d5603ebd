"""The poll activity writes the progress it finds to the job's row, as webhooks do: only to
a processing row of that prediction, and never lower (the real database and fake provider)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col
from temporalio.testing import ActivityEnvironment

from activities.jobs import JobActivities
from activities.urls import Urls
from core.models import Job
from core.progress import parse_progress
from core.replicate import ReplicateClient
from tests.pipeline.conftest import read_row

FLUX = "/v1/models/black-forest-labs/flux-schnell/predictions"
AUTH = {"Authorization": "Bearer r8_test"}


@pytest.fixture
async def activities(settings, sessions) -> AsyncIterator[JobActivities]:
    token = settings.replicate_api_token.get_secret_value()
    async with ReplicateClient.build_http(settings.provider_base_url, token) as http:
        unused: Any = None  # a poll reaches only the provider and the database
        yield JobActivities(
            replicate=ReplicateClient(http),
            storage=unused,
            sessions=sessions,
            urls=Urls(public_base_url=settings.public_base_url),
            signer=unused,
            webhooks=unused,
            downloads=unused,
        )


async def progress_reaches(
    provider: httpx.AsyncClient, prediction_id: str, at_least: float
) -> None:
    """Wait until the fake's prediction shows that much progress (the pytest timeout bounds it)."""
    while True:
        shown = (await provider.get(f"/v1/predictions/{prediction_id}", headers=AUTH)).json()
        if (parse_progress(shown["logs"]) or 0.0) >= at_least:
            return
        await asyncio.sleep(0.05)


async def poll(activities: JobActivities, job_id: uuid.UUID, prediction_id: str) -> float | None:
    """One `get_prediction` as the job's workflow runs it; the progress it saw."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=str(job_id))
    result = await environment.run(activities.get_prediction, prediction_id)
    return result.prediction.progress


async def test_a_poll_raises_a_processing_rows_progress_and_not_an_ended_one(
    activities, provider, sessions
):
    # A prediction without a webhook: only polls bring its progress.
    created = await provider.post(
        FLUX,
        json={
            "input": {"prompt": "a polled tern", "num_inference_steps": 4, "fake": {"latency": 4}}
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    prediction_id = created.json()["id"]
    job_id = uuid.uuid4()
    async with sessions() as session:
        session.add(
            Job(
                id=job_id,
                status="processing",
                prompt="a polled tern",
                model_name="black-forest-labs/flux-schnell",
                external_job_id=prediction_id,
            )
        )
        await session.commit()

    await progress_reaches(provider, prediction_id, 0.25)
    first = await poll(activities, job_id, prediction_id)
    processing = await read_row(sessions, str(job_id))
    async with sessions() as session:
        ended = sa.update(Job).where(col(Job.id) == job_id).values(status="canceled")
        await session.execute(ended)
        await session.commit()
    await progress_reaches(provider, prediction_id, (first or 0.0) + 0.25)
    later = await poll(activities, job_id, prediction_id)
    canceled = await read_row(sessions, str(job_id))

    assert first is not None
    assert 0.25 <= first < 1
    assert (processing.progress, processing.event_seq) == (first, 1)
    assert later is not None
    assert later > first
    assert (canceled.progress, canceled.event_seq) == (first, 1)  # an ended row stays
