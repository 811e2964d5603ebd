"""EXPERIMENTAL, for the lever experiments only: the API with the workflow start deferred.

`POST /api/v1/generate` commits the job row and answers; the workflow is started by a
background task right after (at most `IN_FLIGHT` starts at once). This is NOT durable as
it stands (an API that dies between the commit and the start leaves a pending row without
a workflow): the product version would be a transactional outbox swept by a starter. It
measures what taking Temporal's start off the request path is worth.
Run as `uvicorn tests.bench.variant_api_deferred:app`.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

import api.submit as submit
from api.main import create_app
from core.models import Job

IN_FLIGHT = 20
_committed_start = submit.start_workflow
_tasks: set[asyncio.Task[None]] = set()
_gate: list[asyncio.Semaphore] = []


async def start_later(temporal: Client, job: Job, task_queue: str) -> None:
    """Schedules the start and returns at once."""
    if not _gate:
        _gate.append(asyncio.Semaphore(IN_FLIGHT))

    async def start() -> None:
        async with _gate[0]:
            await _committed_start(temporal, job, task_queue)

    task = asyncio.create_task(start())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


submit.start_workflow = start_later
app = create_app()
