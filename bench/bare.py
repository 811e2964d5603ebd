"""The bare-workflow floor, in processes of its own, against the stack's Temporal server.

`python -m bench.bare worker QUEUE`: a worker of `BareWorkflow` on task queue QUEUE,
configured like the service's worker (same data converter, sandbox and concurrency settings);
it prints `ready` once polling.
`python -m bench.bare drive 'JSON'`: runs bare workflows one at a time (`n`) or in a
closed loop (`concurrency`, `duration`, `window`) and prints the measurements as JSON.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
import time
import uuid
from typing import Any

import orjson
import uvloop
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BareWorkflow, noop
from bench.stats import summary
from core.config import get_settings
from core.temporal import connect_temporal
from worker.main import WORKFLOW_RUNNER, run_on_event_loop, worker_tuning

# Extra `Worker` keyword arguments (JSON), for the lever experiments on the floor itself.
WORKER_OPTIONS = "BENCH_WORKER_OPTIONS"


async def serve(queue: str) -> None:
    settings = get_settings()
    client = await connect_temporal(settings)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[noop],
        workflow_runner=WORKFLOW_RUNNER,
        **{**worker_tuning(settings), **orjson.loads(os.environ.get(WORKER_OPTIONS, "{}"))},
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with worker:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await stop.wait()


async def _one(client: Client, queue: str, steps: str) -> float:
    begun = time.perf_counter()
    await client.execute_workflow(
        BareWorkflow.run, steps, id=f"bench-bare-{uuid.uuid4()}", task_queue=queue
    )
    return time.perf_counter() - begun


async def drive(a: dict[str, Any]) -> dict[str, Any]:
    client = await connect_temporal(get_settings())
    queue, steps = a["queue"], a["steps"]
    for _ in range(a.get("warm", 2)):
        await _one(client, queue, steps)
    if a.get("starts"):  # only start workflows (on a queue nobody polls): Temporal's start cost
        return await _starts(client, a)
    if "n" in a:  # one at a time
        times = []
        for _ in range(a["n"]):
            times.append(await _one(client, queue, steps))
            await asyncio.sleep(a.get("gap", 0.05))
        return {"e2e_ms": [t * 1000 for t in times]}
    begun = time.perf_counter()
    counting = begun + a["warmup"]
    stop = counting + a["duration"]
    ends: list[float] = []

    async def loop() -> None:
        while time.perf_counter() < stop:
            await _one(client, queue, steps)
            ends.append(time.perf_counter())

    await asyncio.gather(*(loop() for _ in range(a["concurrency"])))
    windows = [0] * int(a["duration"] // a["window"])
    for end in ends:
        slot = int((end - counting) // a["window"])
        if 0 <= slot < len(windows):
            windows[slot] += 1
    return {"window_s": a["window"], "windows": windows, "total": len(ends)}


async def _starts(client: Client, a: dict[str, Any]) -> dict[str, Any]:
    """`concurrency` callers start workflows back to back for `duration` s (after `warmup`)."""
    latencies: list[float] = []
    begun = time.perf_counter()
    counting, stop = begun + a["warmup"], begun + a["warmup"] + a["duration"]

    async def caller() -> None:
        while (now := time.perf_counter()) < stop:
            await client.start_workflow(
                BareWorkflow.run, "R", id=f"bench-start-{uuid.uuid4()}", task_queue=a["queue"]
            )
            if now >= counting:
                latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(caller() for _ in range(a["concurrency"])))
    return {
        "rps": len(latencies) / (time.perf_counter() - counting),
        "latency_ms": summary([t * 1000 for t in latencies]),
    }


def main() -> None:
    if sys.argv[1] == "worker":
        run_on_event_loop(get_settings(), serve(sys.argv[2]))  # the service worker's loop
    else:
        result = uvloop.run(drive(orjson.loads(sys.argv[2])))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu_s"] = usage.ru_utime + usage.ru_stime
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()
    # The SDK's Rust threads can trip over interpreter finalization ("PyGILState_Release"):
    # everything is written and closed, so leave without it.
    os._exit(0)


if __name__ == "__main__":
    main()
