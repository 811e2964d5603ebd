"""Dependency checks for /health/detailed: each with its status and latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import Services

CHECK_TIMEOUT = 3.0


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except Exception as exc:
        outcome: dict[str, Any] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        outcome = {"status": "up"}
    outcome["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return outcome


async def check_dependencies(services: Services) -> dict[str, dict[str, Any]]:
    """Probe every dependency at once."""

    async def database() -> None:
        async with services.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def temporal() -> None:
        client = await services.temporal.get()
        await client.workflow_service.get_system_info(GetSystemInfoRequest())

    checks = {
        "database": database,
        "temporal": temporal,
        "object_storage": services.storage.ping,
        "provider": services.provider.ping,
    }
    results = await asyncio.gather(*(_timed(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))
