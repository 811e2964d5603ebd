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
# The provider is asked at most this often; other dependencies are ours and cheap to ask.
PROVIDER_PROBE_SECONDS = 30.0


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

    async def provider() -> dict[str, Any]:
        cached = services.provider_probe
        if cached is not None and time.monotonic() - cached[1] < PROVIDER_PROBE_SECONDS:
            return {**cached[0], "cached": True}
        outcome = await _timed(services.provider.ping)
        services.provider_probe = (outcome, time.monotonic())
        return outcome

    checks = {
        "database": _timed(database),
        "temporal": _timed(temporal),
        "object_storage": _timed(services.storage.ping),
        "provider": provider(),
    }
    results = await asyncio.gather(*checks.values())
    return dict(zip(checks, results, strict=True))
