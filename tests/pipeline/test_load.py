"""One worker process carries many jobs at once: waiting on the provider holds no slot."""

from __future__ import annotations

import asyncio
import time

from tests.pipeline.conftest import submit

JOBS = 200
LATENCY = 5.0


async def test_200_jobs_at_5s_latency_all_complete_on_one_worker(api, stack):
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> str:
        async with gate:
            job = await submit(api, f"crowd {index}", parameters={"fake": {"latency": LATENCY}})
        return str(job["id"])

    worker = stack.pid("worker")
    started = time.monotonic()
    ids = await asyncio.gather(*(one(i) for i in range(JOBS)))
    pending = set(ids)
    statuses: dict[str, str] = {}
    while pending and time.monotonic() - started < 240:
        await asyncio.sleep(1)
        for job_id in list(pending):
            status = (await api.get(f"/api/v1/status/{job_id}")).json()["status"]
            if status in {"completed", "failed", "canceled"}:
                statuses[job_id] = status
                pending.discard(job_id)

    assert not pending, f"{len(pending)} jobs unfinished"
    assert set(statuses.values()) == {"completed"}
    assert stack.pid("worker") == worker  # the same single worker process throughout
