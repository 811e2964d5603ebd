"""`python -m tests.replay.record_reconcile`: record a ReconcileJobs history on a fresh stack.

The run it records settles a terminated job and a completed one whose end was not mirrored,
and finds a row with no workflow. It goes to a new directory, like `make record-histories`:
`histories/<date>[-N]/ReconcileJobs-settled.json`, never edited afterwards.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from core.api_keys import bearer
from core.db import make_engine, make_session_factory
from core.models import Job
from core.reconcile import ReconcileInput
from core.temporal import connect_temporal
from devstack import Stack
from devstack.isolated import TEST_ENV, isolated_settings
from tests.replay.record import HISTORIES, new_recording_dir
from workflows.reconcile import ReconcileJobsWorkflow

QUIET = {"updated_at": datetime.now(UTC) - timedelta(minutes=10)}  # past the grace period


async def _job(api: httpx.AsyncClient, prompt: str, parameters: dict[str, Any], until: str) -> str:
    body = {"prompt": prompt, "parameters": parameters}
    job_id = str((await api.post("/api/v1/generate", json=body)).raise_for_status().json()["id"])
    deadline = time.monotonic() + 60
    while (await api.get(f"/api/v1/status/{job_id}")).json()["status"] != until:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} never became {until}")
        await asyncio.sleep(0.1)
    return job_id


async def record(stack: Stack, out: Path) -> Path:
    settings = stack.settings
    temporal = await connect_temporal(settings)
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    async with httpx.AsyncClient(
        base_url=settings.public_base_url, headers=bearer(stack.api_key), timeout=60
    ) as api:
        stopped = await _job(
            api, "a fox an operator stopped", {"fake": {"latency": 60}}, "processing"
        )
        unmirrored = await _job(api, "a fox whose end was not written", {}, "completed")
    await temporal.get_workflow_handle(stopped).terminate(reason="stuck on a bad node")
    async with sessions() as session:
        session.add(
            Job(prompt="a row with no workflow", model_name="black-forest-labs/flux-schnell")
        )
        await session.flush()
        await session.execute(
            sa.update(Job).where(col(Job.id) != uuid.UUID(unmirrored)).values(QUIET)
        )
        await session.execute(
            sa.update(Job)
            .where(col(Job.id) == uuid.UUID(unmirrored))
            .values(status="processing", outputs=[], result_url=None, completed_at=None, **QUIET)
        )
        await session.commit()
    await engine.dispose()
    run_id = f"reconcile-{uuid.uuid4()}"
    await temporal.execute_workflow(
        ReconcileJobsWorkflow.run,
        ReconcileInput(),
        id=run_id,
        task_queue=settings.temporal_task_queue,
    )
    history = await temporal.get_workflow_handle(run_id).fetch_history()
    path = out / "ReconcileJobs-settled.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    return path


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="record-histories-") as scratch,
        Stack(isolated_settings(Path(scratch)), extra_env=TEST_ENV) as stack,
    ):
        path = asyncio.run(record(stack, new_recording_dir(HISTORIES)))
        sys.stdout.write(f"recorded {path.relative_to(Path.cwd())}\n")


if __name__ == "__main__":
    main()
