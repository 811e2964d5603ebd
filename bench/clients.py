"""What the load processes talk to: the API over HTTP, and PostgreSQL to see jobs finish.

A closed loop of hundreds of jobs must not load the API with status polls: one query per
tick over every job being waited on finds the finished ones (the row the API serves).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped,unused-ignore]
import orjson

from core.api_keys import bearer
from devstack.health import asyncpg_dsn

TERMINAL = ("completed", "failed", "canceled")
FINISHED = """
    SELECT id::text, status, completed_at, external_job_id, retry_count, error::text
    FROM jobs WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])
"""


# What each bench job's prediction outputs unless a figure says otherwise: a 16 KiB file, the
# size of a small image. Left to itself the fake renders a real WebP for every download (64 ms
# of its CPU per job on this machine), work a real provider has done before it says
# `succeeded`; measured here, it would be charged to the service it competes with for cores.
OUTPUT_BYTES = 16 * 1024


def job_body(prompt: str, **fake: Any) -> bytes:
    """A generate request whose prediction the fake runs as `fake` says (latency, output_bytes)."""
    return orjson.dumps(
        {"prompt": prompt, "parameters": {"fake": {"output_bytes": OUTPUT_BYTES, **fake}}}
    )


class Api:
    """The API's job routes through one aiohttp session (C parser: cheap per request)."""

    def __init__(self, base_url: str, key: str, connections: int) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            # uvicorn closes a connection idle for 5 s; reusing one just then is a reset
            connector=aiohttp.TCPConnector(
                limit=connections, limit_per_host=connections, keepalive_timeout=2.0
            ),
            timeout=aiohttp.ClientTimeout(total=60),
            headers={"Content-Type": "application/json", **bearer(key)},
        )

    async def close(self) -> None:
        await self._session.close()

    async def submit(self, body: bytes) -> tuple[int, str | None, float]:
        """POST /api/v1/generate: the status code, the job id (on 202) and the seconds taken."""
        begun = time.perf_counter()
        async with self._session.post("/api/v1/generate", data=body) as response:
            payload = await response.read()
            status = response.status
        took = time.perf_counter() - begun
        job_id = str(orjson.loads(payload)["id"]) if status == 202 else None
        return status, job_id, took

    async def status(self, job_id: str) -> dict[str, Any]:
        async with self._session.get(f"/api/v1/status/{job_id}") as response:
            document: dict[str, Any] = orjson.loads(await response.read())
        return document


@dataclass(frozen=True)
class Finished:
    """A job's terminal row, and when this process first saw it (perf_counter seconds)."""

    job_id: str
    status: str
    completed_at: datetime | None
    external_job_id: str | None
    retry_count: int
    error: str | None
    seen: float


class Completions:
    """Resolves a future per job once its row is terminal; one query per `tick` for all."""

    def __init__(self, database_url: str, tick: float = 0.1) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._tick = tick
        self._waiting: dict[str, asyncio.Future[Finished]] = {}
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        self._task = asyncio.create_task(self._poll())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()

    def watch(self, job_id: str) -> asyncio.Future[Finished]:
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._waiting[job_id] = future
        return future

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            if not self._waiting:
                continue
            rows = await self._conn.fetch(FINISHED, list(self._waiting), list(TERMINAL))
            seen = time.perf_counter()
            for job_id, status, completed_at, external_id, retries, error in rows:
                future = self._waiting.pop(job_id, None)
                if future is not None and not future.done():
                    future.set_result(
                        Finished(job_id, status, completed_at, external_id, retries, error, seen)
                    )
