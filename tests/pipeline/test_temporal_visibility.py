"""What operators see in the Temporal Web UI: search attributes, memo, activity summaries."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from core.models import Job
from core.search_attributes import MODEL_NAME, OWNER
from tests.pipeline.conftest import started, submit, wait_for
from tests.pipeline.tenants import mint

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"


async def visible_ids(temporal, query: str) -> set[str]:
    return {wf.id async for wf in temporal.list_workflows(query)}


async def test_job_status_search_attribute_lists_exactly_the_completed_jobs(
    api, temporal, sessions, settings
):
    job = await submit(api, "a listed heron")
    await wait_for(api, job["id"], {"completed"})
    failed = await submit(api, "[nsfw] a hidden heron")
    await wait_for(api, failed["id"], {"failed"})
    await asyncio.sleep(1.5)  # visibility is eventually consistent

    async with sessions() as session:
        rows = await session.execute(sa.select(col(Job.id)).where(col(Job.status) == "completed"))
    completed_rows = {str(row) for row in rows.scalars()}
    listed = await visible_ids(temporal, 'JobStatus="completed"')
    cli = await asyncio.create_subprocess_exec(
        str(TEMPORAL_CLI),
        "workflow",
        "list",
        "--address",
        settings.temporal_address,
        "--query",
        'JobStatus="completed"',
        "--output",
        "json",
        "--limit",
        "100000",
        stdout=asyncio.subprocess.PIPE,
    )
    cli_stdout = (await cli.communicate())[0].decode()

    assert job["id"] in listed
    assert failed["id"] not in listed
    assert failed["id"] in await visible_ids(temporal, 'JobStatus="failed"')
    assert listed == completed_rows
    assert cli.returncode == 0
    assert job["id"] in cli_stdout
    assert failed["id"] not in cli_stdout


async def test_memo_model_and_activity_summaries(api, temporal):
    job = await submit(api, "a memorable crane", model_name="stability-ai/sdxl")
    await wait_for(api, job["id"], {"completed"})
    handle = temporal.get_workflow_handle(job["id"])

    description = await handle.describe()
    memo = await description.memo()
    history = await handle.fetch_history()

    assert memo["prompt"] == "a memorable crane"
    assert description.typed_search_attributes.get(MODEL_NAME) == "stability-ai/sdxl"
    summaries = {
        event.user_metadata.summary.data.decode().strip('"')
        for event in history.events
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
    }
    assert {
        "create prediction (stability-ai/sdxl)",
        "store output 0",
        "write metadata",
    } <= summaries


async def test_the_owner_search_attribute_finds_a_tenants_jobs(api, sessions, temporal):
    tenant = await mint(sessions)
    answer = await api.post(
        "/api/v1/generate", json={"prompt": "a tenant's heron"}, headers=tenant.headers
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    description = await started(temporal, job_id)
    assert description.typed_search_attributes.get(OWNER) == tenant.owner
    # What the Temporal Web UI runs for `Owner = "…"` (visibility is eventually consistent).
    query = f'Owner = "{tenant.owner}"'
    for _ in range(100):
        found = [execution.id async for execution in temporal.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [job_id]
