"""`make record-histories`: run every scenario on a fresh stack and export its history.

Each recording goes to a new directory, `histories/<date>[-N]/<Workflow>-<scenario>.json`,
and is never edited afterwards: the old recordings stay, so the replay test keeps proving
that histories of jobs started by older code still replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowFailureError

from core.api_keys import bearer
from core.config import Settings
from core.temporal import connect_temporal
from devstack import Stack
from devstack.isolated import TEST_ENV, isolated_settings
from tests.pipeline.receivers import Receiver, serving
from tests.replay.images import image_named
from tests.replay.scenarios import (
    CHILD_SCENARIOS,
    SCENARIOS,
    UPLOAD_SCENARIOS,
    Scenario,
    UploadScenario,
)

HISTORIES = Path(__file__).parent / "histories"
TERMINAL = {"completed", "failed", "canceled"}


async def _run(api: httpx.AsyncClient, scenario: Scenario, settings: Settings) -> str:
    body = {"prompt": scenario.prompt, "parameters": scenario.parameters}
    job = (await api.post("/api/v1/generate", json=body)).raise_for_status().json()
    if scenario.stray_start:
        await _stray(settings, str(job["id"]))
    return await _followed(api, scenario, str(job["id"]))


async def _stray(settings: Settings, job_id: str) -> None:
    """A slow prediction created at the fake behind the job's back, naming its webhook."""
    hook = f"{settings.public_base_url}/api/v1/webhooks/replicate/{job_id}?attempt=1"
    body = {
        "input": {"prompt": "a stray", "fake": {"latency": 30}},
        "webhook": hook,
        "webhook_events_filter": ["start", "completed"],
    }
    async with httpx.AsyncClient(base_url=settings.provider_base_url, timeout=30) as provider:
        created = await provider.post(
            "/models/black-forest-labs/flux-schnell/predictions",
            json=body,
            headers={"Authorization": "Bearer r8_recorder"},
        )
        created.raise_for_status()


async def _upload(api: httpx.AsyncClient, scenario: UploadScenario, receiver: Receiver) -> str:
    files = {"file": (f"{scenario.image}.jpg", image_named(scenario.image), "image/jpeg")}
    data = {"variants": scenario.presets} if scenario.presets else {}
    if scenario.webhook:
        data["webhook_url"] = receiver.url
    job = (await api.post("/api/v1/uploads", files=files, data=data)).raise_for_status().json()
    return await _followed(api, scenario, str(job["id"]))


async def _followed(
    api: httpx.AsyncClient, scenario: Scenario | UploadScenario, job_id: str
) -> str:
    """Follow the job to its end, cancelling it as the scenario says: its id."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = (await api.get(f"/api/v1/status/{job_id}")).json()["status"]
        if status == scenario.cancel_when:
            (await api.delete(f"/api/v1/jobs/{job_id}")).raise_for_status()
        elif status in TERMINAL:
            if status != scenario.expected_status:
                raise RuntimeError(
                    f"{scenario.name}: ended {status}, expected {scenario.expected_status}"
                )
            return job_id
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{scenario.name}: job {job_id} did not finish")


async def _closed(temporal: Client, workflow_id: str) -> None:
    """Wait for the workflow to close: its last steps (a webhook's call) follow the row's end."""
    with contextlib.suppress(WorkflowFailureError):  # failed or canceled: closed all the same
        await temporal.get_workflow_handle(workflow_id).result()


async def record(stack: Stack, out: Path) -> list[Path]:
    settings = stack.settings
    temporal = await connect_temporal(settings)
    written = []
    async with httpx.AsyncClient(
        base_url=settings.public_base_url, headers=bearer(stack.api_key), timeout=60
    ) as api:
        job_ids = await asyncio.gather(*(_run(api, scenario, settings) for scenario in SCENARIOS))
        with serving() as receiver:
            upload_ids = await asyncio.gather(
                *(_upload(api, s, receiver) for s in UPLOAD_SCENARIOS)
            )
            await asyncio.gather(*(_closed(temporal, job_id) for job_id in upload_ids))
    runs = [
        (f"GenerateMedia-{s.name}", job_id) for s, job_id in zip(SCENARIOS, job_ids, strict=True)
    ]
    runs += [
        (f"ProcessImage-child-{s.name}", f"{job_id}-variants")
        for s, job_id in zip(SCENARIOS, job_ids, strict=True)
        if s.name in CHILD_SCENARIOS
    ]
    runs += [
        (f"ProcessImage-{s.name}", job_id)
        for s, job_id in zip(UPLOAD_SCENARIOS, upload_ids, strict=True)
    ]
    for name, workflow_id in runs:
        history = await temporal.get_workflow_handle(workflow_id).fetch_history()
        path = out / f"{name}.json"
        path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        written.append(path)
    return written


def new_recording_dir(root: Path) -> Path:
    """`root/<today>`, or `root/<today>-N` when today already has recordings."""
    today = datetime.now(UTC).date().isoformat()
    candidate, n = root / today, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{today}-{n}"
    candidate.mkdir(parents=True)
    return candidate


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="record-histories-") as scratch,
        Stack(isolated_settings(Path(scratch)), extra_env=TEST_ENV) as stack,
    ):
        for path in asyncio.run(record(stack, new_recording_dir(HISTORIES))):
            sys.stdout.write(f"recorded {path.relative_to(Path.cwd())}\n")


if __name__ == "__main__":
    main()
