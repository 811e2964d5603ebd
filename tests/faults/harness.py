"""What every fault scenario shares: the clients of its stack, the planned jobs, the faults.

A scenario plans its jobs from a seeded RNG (latency, outputs, and whether the job is meant
to fail), submits them all, injects its fault while they are in flight, restores the stack
and hands the jobs to `checker.check_jobs`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client

from core.db import SessionFactory
from core.storage import Storage
from devstack import Stack

# A failed prediction whose error is the user's (see core.replicate._USER_ERRORS) fails the
# job at once, without reruns: the "failed as expected" jobs of every scenario.
DESIGNED_ERROR = "invalid input: refused on purpose by the fault suite"
DESIGNED_FAILURE_TYPE = "UserInputError"
LATENCY = (2.0, 5.0)  # seconds each fake prediction takes, drawn per job


@dataclass
class FaultEnv:
    """The module's stack and clients of its API, Temporal, bucket and database."""

    stack: Stack
    api: httpx.AsyncClient
    temporal: Client
    storage: Storage
    sessions: SessionFactory


@dataclass
class Planned:
    """One job as the scenario means it: what it asks for and how it must end."""

    prompt: str
    parameters: dict[str, Any]
    expect: str  # "completed" or "failed"
    outputs: int  # media objects a completed job stores
    job_id: str | None = None  # known once the API (or the database, or Temporal) names it
    failure_type: str | None = None  # the error type a job meant to fail must end with

    @property
    def body(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "parameters": self.parameters}


@dataclass
class Workload:
    """Every job a scenario planned, by prompt (a prompt names exactly one planned job)."""

    label: str
    jobs: list[Planned] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # prompts of requests the API answered 503

    def by_prompt(self) -> dict[str, Planned]:
        return {job.prompt: job for job in self.jobs}

    def submitted(self) -> list[Planned]:
        return [job for job in self.jobs if job.job_id is not None]


def plan_jobs(
    label: str, count: int, *, seed: int, fail_every: int = 10, start: int = 0
) -> list[Planned]:
    """`count` jobs with 2-5 s of provider latency; every `fail_every`-th one is meant to fail."""
    rng = random.Random(f"{label}:{seed}")
    jobs = []
    for index in range(start, start + count):
        fake: dict[str, Any] = {"latency": round(rng.uniform(*LATENCY), 2)}
        outputs = rng.choice((1, 1, 2))
        fails = fail_every > 0 and index % fail_every == fail_every - 1
        if fails:
            fake |= {"outcome": "failed", "error": DESIGNED_ERROR}
        jobs.append(
            Planned(
                prompt=f"fault {label}: job {index}",
                parameters={"width": 256, "height": 256, "num_outputs": outputs, "fake": fake},
                expect="failed" if fails else "completed",
                outputs=0 if fails else outputs,
                failure_type=DESIGNED_FAILURE_TYPE if fails else None,
            )
        )
    return jobs


async def submit_all(api: httpx.AsyncClient, jobs: Iterable[Planned], *, at_once: int = 25) -> None:
    """POST every job (at most `at_once` at a time), asserting each 202, and note its id."""
    gate = asyncio.Semaphore(at_once)

    async def one(job: Planned) -> None:
        async with gate:
            response = await api.post("/api/v1/generate", json=job.body)
        assert response.status_code == 202, response.text
        document = response.json()
        assert document["status"] == "pending", document
        job.job_id = document["id"]

    await asyncio.gather(*(one(job) for job in jobs))


async def in_thread(call: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking stack operation (they wait for health checks) off the event loop."""
    return await asyncio.to_thread(call, *args)


async def restore(stack: Stack, *names: str) -> None:
    """Start every child in `names` that is not running (a scenario's `finally`)."""
    for name in names:
        if stack.pid(name) is None:
            await in_thread(stack.start_child, name)


async def outage(
    stack: Stack, name: str, seconds: float, during: Callable[[], Awaitable[Any]] | None = None
) -> Any:
    """Stop child `name` for `seconds` (running `during` meanwhile), then start it again."""
    await in_thread(stack.stop_child, name)
    began = time.monotonic()
    try:
        result = await during() if during is not None else None
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - began)))
    finally:
        await restore(stack, name)
    return result


async def wait_for_status(api: httpx.AsyncClient, job_id: str, status: str, within: float) -> None:
    """Poll a job until it has `status`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await api.get(f"/api/v1/status/{job_id}")).json()["status"] == status:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} not {status} after {within} s")


async def provider_state(env: FaultEnv, *, by: str | None = None) -> dict[str, Any]:
    """The fake provider's counters (`/_fake/state`): requests, faults, predictions (`by`
    webhook: predictions per webhook URL, which names the job and its attempt)."""
    base = env.stack.settings.provider_base_url.removesuffix("/v1")
    params = {"by": by} if by else {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        state: dict[str, Any] = (await client.get("/_fake/state", params=params)).json()
    return state
