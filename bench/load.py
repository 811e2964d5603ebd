"""Load generators, each in a process of its own: `python -m bench.load MODE 'JSON'`.

MODE is one of `submit`, `paced`, `jobs`, `loop`, `burst`; JSON holds its arguments (the API's
URL, the database URL, counts and durations). One JSON document of measurements goes to
stdout. uvloop and aiohttp keep the generator's own CPU small (it shares the machine with
the stack); every result carries `cpu_s`, the CPU seconds the generator itself used.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.clients import TERMINAL, Api, Completions, Finished, job_body
from bench.stats import summary


async def submit(a: dict[str, Any]) -> dict[str, Any]:
    """`concurrency` clients POST jobs back to back; latencies after `warmup` seconds count."""
    api = Api(a["api"], a["api_key"], a["concurrency"])
    body = job_body("bench submit", latency=a["latency"])
    latencies: list[float] = []
    codes: dict[str, int] = {}
    begun = time.perf_counter()
    counting, deadline = begun + a["warmup"], begun + a["warmup"] + a["duration"]

    async def client() -> None:
        while (now := time.perf_counter()) < deadline:
            status, _, took = await api.submit(body)
            if now >= counting:
                latencies.append(took)
                codes[str(status)] = codes.get(str(status), 0) + 1

    try:
        await asyncio.gather(*(client() for _ in range(a["concurrency"])))
    finally:
        await api.close()
    elapsed = time.perf_counter() - counting
    return {
        "requests": len(latencies),
        "errors": sum(n for code, n in codes.items() if code != "202"),
        "codes": codes,
        "rps": len(latencies) / elapsed,
        "latency_ms": summary([t * 1000 for t in latencies]),
    }


async def paced(a: dict[str, Any]) -> dict[str, Any]:
    """An open loop: a job POSTed every 1/`rate` s for `duration` s, whatever the answers.

    Each submit's wall-clock send time (epoch seconds, comparable with Temporal's start
    times on this machine) and job id are returned, for submit → workflow started.
    """
    api = Api(a["api"], a["api_key"], 200)
    body = job_body("bench paced", latency=a["latency"])
    sent: list[tuple[float, str]] = []
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        at = time.time()
        status, job_id, took = await api.submit(body)
        latencies.append(took)
        if status == 202 and job_id is not None:
            sent.append((at, job_id))
        else:
            errors += 1

    begun = time.perf_counter()
    posts = []
    for index in range(int(a["rate"] * a["duration"])):
        await asyncio.sleep(max(0.0, begun + index / a["rate"] - time.perf_counter()))
        posts.append(asyncio.create_task(one()))
    try:
        await asyncio.gather(*posts)
    finally:
        await api.close()
    return {
        "sent": sent,
        "errors": errors,
        "rps": len(posts) / (time.perf_counter() - begun),
        "latency_ms": summary([t * 1000 for t in latencies]),
    }


async def jobs(a: dict[str, Any]) -> dict[str, Any]:
    """`n` jobs one at a time (after `warm` unrecorded ones): submit, then poll the status
    every `poll` s until it is terminal, as a client would; submit to `completed` times.
    """
    api = Api(a["api"], a["api_key"], 2)
    body = job_body("bench one at a time", **a["fake"])
    times: list[float] = []
    document: dict[str, Any] = {}
    failed = 0
    try:
        for index in range(a.get("warm", 0) + a["n"]):
            begun = time.perf_counter()
            status, job_id, _ = await api.submit(body)
            assert status == 202, status
            assert job_id is not None
            while True:  # a client polling the status, as API.md tells clients to
                document = await api.status(job_id)
                if document["status"] in TERMINAL:
                    break
                await asyncio.sleep(a["poll"])
            if index >= a.get("warm", 0):
                failed += document["status"] != "completed"
                times.append(time.perf_counter() - begun)
            await asyncio.sleep(a.get("gap", 0.05))
    finally:
        await api.close()
    return {"e2e_ms": [t * 1000 for t in times], "failed": failed, "last": document}


async def loop(a: dict[str, Any]) -> dict[str, Any]:
    """A closed loop: `concurrency` clients each submit a job, wait for its end, submit again.

    Completions are counted per `window` s over `duration` s (after `warmup` s); then no new
    job starts and the in-flight ones are waited for (up to `drain` s) and checked too.
    """
    api = Api(a["api"], a["api_key"], a["concurrency"])
    done = Completions(a["database_url"])
    await done.start()
    body = job_body("bench loop", **a["fake"])
    begun = time.perf_counter()
    counting = begun + a["warmup"]
    stop = counting + a["duration"]
    ends: list[Finished] = []
    e2e: list[float] = []
    submit_errors = 0
    reasons: list[str] = []

    async def client() -> None:
        nonlocal submit_errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                status, job_id, _ = await api.submit(body)
            except aiohttp.ClientError as exc:
                status, job_id = 0, None
                reasons.append(f"submit: {exc!r}"[:200])
            if job_id is None:
                if status:
                    reasons.append(f"submit answered {status}")
                submit_errors += 1
                await asyncio.sleep(0.1)
                continue
            end = await done.watch(job_id)
            ends.append(end)
            if end.status != "completed":
                reasons.append(f"job {end.job_id} {end.status}: {end.error}"[:300])
            e2e.append(end.seen - started)

    clients = [asyncio.create_task(client()) for _ in range(a["concurrency"])]
    await asyncio.sleep(max(0.0, stop - time.perf_counter()))
    _, late = await asyncio.wait(clients, timeout=a["drain"])
    for task in late:
        task.cancel()
    await done.close()
    await api.close()
    windows = [0] * int(a["duration"] // a["window"])
    for end in ends:
        slot = int((end.seen - counting) // a["window"])
        if end.status == "completed" and 0 <= slot < len(windows):
            windows[slot] += 1
    return {
        "window_s": a["window"],
        "windows": windows,
        "total": len(ends),
        "completed": sum(end.status == "completed" for end in ends),
        "failed": sum(end.status != "completed" for end in ends) + submit_errors,
        "retries": sum(end.retry_count for end in ends),
        "unfinished": done.pending,
        "e2e_s": summary(e2e),
        "failures": reasons[:5],
    }


MODES: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "submit": submit,
    "paced": paced,
    "jobs": jobs,
    "loop": loop,
}


def main() -> None:
    from bench.burst import burst

    MODES["burst"] = burst
    mode, args = sys.argv[1], orjson.loads(sys.argv[2])
    result: dict[str, Any] = uvloop.run(MODES[mode](args))  # type: ignore[arg-type]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
