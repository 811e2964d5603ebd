"""Fixtures for tests that drive the running service: its API, Temporal, bucket and database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode

from core.api_keys import bearer
from core.config import Settings, get_settings
from core.db import make_engine, make_session_factory
from core.models import Job
from core.storage import Storage
from core.temporal import connect_temporal


@pytest.fixture(scope="session")
def settings(stack) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
async def api(stack, settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API process the stack runs, with the stack's (admin) key."""
    async with httpx.AsyncClient(
        base_url=settings.public_base_url, headers=bearer(stack.api_key), timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def provider(settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the fake provider (its `/_fake/state` shows what it was asked)."""
    base = settings.provider_base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def temporal(settings) -> Client:
    return await connect_temporal(settings)


@pytest.fixture(scope="session")
async def storage(settings) -> AsyncIterator[Storage]:
    store = Storage.from_settings(settings)
    yield store
    await store.close()


@pytest.fixture(scope="session")
async def sessions(settings):
    engine = make_engine(settings)
    yield make_session_factory(engine)
    await engine.dispose()


async def read_row(sessions, job_id: str) -> Job:
    session: AsyncSession
    async with sessions() as session:
        job = await session.get(Job, uuid.UUID(job_id))
    assert job is not None, f"no row for job {job_id}"
    return job


async def submit(
    api: httpx.AsyncClient, prompt: str = "a red fox in the snow", **fields: Any
) -> dict[str, Any]:
    """POST a job and return its document (asserting the 202)."""
    response = await api.post("/api/v1/generate", json={"prompt": prompt, **fields})
    assert response.status_code == 202, response.text
    document: dict[str, Any] = response.json()
    return document


async def wait_for(
    api: httpx.AsyncClient, job_id: str, statuses: set[str], within: float = 60
) -> tuple[dict[str, Any], list[str]]:
    """Poll the status until it is one of `statuses`; returns it and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        document = (await api.get(f"/api/v1/status/{job_id}")).json()
        if not seen or seen[-1] != document["status"]:
            seen.append(document["status"])
        if document["status"] in statuses:
            return document, seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1:]} after {within}s (saw {seen})")


async def started(
    temporal: Client, job_id: str, within: float = 15
) -> WorkflowExecutionDescription:
    """The job's workflow, once a starter has started it (api/starter.py: a submit's 202
    comes before its workflow exists)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await temporal.get_workflow_handle(job_id).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)
