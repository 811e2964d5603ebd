"""The in-flight figure's load: thousands of slow jobs submitted at once, then awaited.

How late a job completes after its provider finished is the job's `completed_at` (the
row the API serves) minus the prediction's `completed_at` at the fake (`/_fake/predictions/
{id}`, no token); both are wall clocks of this one machine.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import aiohttp

from bench.clients import Api, Completions, Finished, job_body
from bench.stats import summary


async def _submit_all(api: Api, n: int, concurrency: int, latency: float) -> list[str]:
    ids: list[str] = []
    queue = iter(range(n))

    async def submitter() -> None:
        for index in queue:
            body = job_body(f"bench burst {index}", latency=latency)
            for _ in range(5):  # a refused submit would change the job count: try again
                _status, job_id, _ = await api.submit(body)
                if job_id is not None:
                    ids.append(job_id)
                    break
                await asyncio.sleep(0.5)

    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    return ids


async def _provider_ends(fake_url: str, ends: list[Finished]) -> dict[str, datetime]:
    """When the fake says each prediction completed, by prediction id."""
    found: dict[str, datetime] = {}
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(base_url=fake_url) as session:

        async def one(prediction_id: str) -> None:
            async with gate, session.get(f"/_fake/predictions/{prediction_id}") as response:
                body = await response.json()
            if body.get("completed_at"):
                found[prediction_id] = datetime.fromisoformat(body["completed_at"])

        await asyncio.gather(*(one(e.external_job_id) for e in ends if e.external_job_id))
    return found


async def burst(a: dict[str, Any]) -> dict[str, Any]:
    """Submit `n` jobs of `latency` s, wait for all (`timeout` s from the first submit)."""
    api = Api(a["api"], a["api_key"], a["concurrency"])
    done = Completions(a["database_url"], tick=0.5)
    await done.start()
    begun = time.perf_counter()
    try:
        ids = await _submit_all(api, a["n"], a["concurrency"], a["latency"])
        submitted = time.perf_counter() - begun
        futures = [done.watch(job_id) for job_id in ids]
        remaining = a["timeout"] - (time.perf_counter() - begun)  # `timeout` covers it all
        finished, _ = await asyncio.wait(futures, timeout=max(1.0, remaining))
    finally:
        await api.close()
        await done.close()
    ends = [future.result() for future in finished]
    provider = await _provider_ends(a["fake_url"], ends)
    lags = [
        (end.completed_at - provider[end.external_job_id]).total_seconds() * 1000
        for end in ends
        if end.status == "completed" and end.completed_at and end.external_job_id in provider
    ]
    last_seen = max((end.seen for end in ends), default=begun)
    return {
        "submitted": len(ids),
        "submit_s": submitted,
        "completed": sum(end.status == "completed" for end in ends),
        "failed": sum(end.status != "completed" for end in ends) + a["n"] - len(ids),
        "unfinished": len(ids) - len(ends),
        "retries": sum(end.retry_count for end in ends),
        "all_done_s": last_seen - begun,
        "lag_ms": summary(lags),
    }
