"""A second API process beside the stack's own, sharing its database, Temporal and bucket.

Tests of what must hold across API processes (the per-owner quotas) send requests to both:

    async with api_process(stack) as base_url:
        ...
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import httpx

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


class HasEnv(Protocol):
    """What is needed of the stack: the environment its children run with."""

    @property
    def env(self) -> Mapping[str, str]: ...


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def _wait_healthy(process: asyncio.subprocess.Process, base_url: str, log: Path) -> None:
    """Poll `/health` until it answers 200; raises if the process exits first."""
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while process.returncode is None:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(
        f"the second API process exited with {process.returncode} before it was healthy;"
        f" its log ends:\n{_log_tail(log)}"
    )


async def _stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(grace):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


@asynccontextmanager
async def api_process(
    stack: HasEnv, *, health_timeout: float = 60.0, stop_timeout: float = 10.0
) -> AsyncIterator[str]:
    """Start another API process (`uvicorn --factory api.main:create_app` on a free port) with
    the stack's environment; yields its base URL once `/health` answers 200, and stops it at
    exit (SIGTERM, then SIGKILL after `stop_timeout`).
    """
    port = free_port()
    env = {**os.environ, **stack.env, "API_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    base_url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="api-process-") as scratch:
        log = Path(scratch) / "api.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.main:create_app",
                "--host",
                HOST,
                "--port",
                str(port),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                try:
                    async with asyncio.timeout(health_timeout):
                        await _wait_healthy(process, base_url, log)
                except TimeoutError:
                    raise RuntimeError(
                        f"the second API process was not healthy within {health_timeout}s;"
                        f" its log ends:\n{_log_tail(log)}"
                    ) from None
                yield base_url
            finally:
                await _stop(process, stop_timeout)
