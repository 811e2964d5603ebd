"""`python -m bench progress [--jobs N] [--rounds R] [--write]`: what progress costs.

1,000 jobs submitted at once, each a prediction of 20 s whose fake prints a tqdm line per
step (10 steps): with progress on (committed), the provider sends a `logs` webhook per line
and the API writes each to the job's row (a NOTIFY with it), never through Temporal; off
(`PROVIDER_LOGS_PROGRESS=false` for the worker), the create asks for no `logs` webhooks.
The figure is CPU seconds per job of the Temporal server and of the API process (and of
the others, for context), on and off taking turns on one stack so that the machine's
other load falls on both alike; each cell is the median of the rounds, the rounds beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any

import httpx
import orjson
import uvloop

from bench.clients import OUTPUT_BYTES, Api, Completions
from bench.levers import Switcher
from bench.probe import Probe
from bench.report import machine, replace_section
from bench.stack import Bench, Setup, bench_stack
from bench.stats import median

log = logging.getLogger("bench")
ON = Setup("progress on (committed)")
OFF = Setup("progress off", worker_env={"PROVIDER_LOGS_PROGRESS": "false"})
# PostgreSQL is left out: the CPU of its backends that exit meanwhile is lost to /proc.
PROCESSES = ("temporal", "api", "worker", "fake_replicate")


def body(index: int, latency: float, steps: int) -> bytes:
    fake = {"output_bytes": OUTPUT_BYTES, "latency": latency}
    parameters = {"num_inference_steps": steps, "fake": fake}
    return orjson.dumps({"prompt": f"bench progress {index}", "parameters": parameters})


async def _burst(bench: Bench, jobs: int, latency: float, steps: int) -> dict[str, Any]:
    """Submit `jobs` jobs (50 at a time) and wait for every one to end."""
    api = Api(bench.api, bench.stack.api_key, 50)
    done = Completions(bench.stack.settings.database_url, tick=0.5)
    await done.start()
    ids: list[str] = []
    refused = 0
    begun = time.perf_counter()
    try:
        indexes = iter(range(jobs))

        async def submitter() -> None:
            nonlocal refused
            for index in indexes:
                for _ in range(5):  # a busy API answers 503: the job count must stay
                    status, job_id, _ = await api.submit(body(index, latency, steps))
                    if job_id is not None:
                        ids.append(job_id)
                        break
                    await asyncio.sleep(0.5)
                else:
                    refused += 1
                    log.warning("submit answered %s five times", status)

        await asyncio.gather(*(submitter() for _ in range(50)))
        ends, _ = await asyncio.wait([done.watch(i) for i in ids], timeout=latency + 1200)
    finally:
        await api.close()
        await done.close()
    finished = [end.result() for end in ends]
    return {
        "completed": sum(end.status == "completed" for end in finished),
        "refused": refused,
        "all_done_s": time.perf_counter() - begun,
    }


def _webhooks(bench: Bench) -> dict[str, int]:
    state = httpx.get(f"{bench.fake}/_fake/state", timeout=10).json()
    return {str(name): int(count) for name, count in state["webhook_events"].items()}


def one_round(bench: Bench, jobs: int, latency: float, steps: int) -> dict[str, float]:
    """One burst of the current setup: CPU ms per job of each process, and what it took."""
    before = _webhooks(bench)
    probe = Probe(bench).start()
    result = uvloop.run(_burst(bench, jobs, latency, steps))
    spent = probe.stop(jobs - result["refused"])
    after = _webhooks(bench)
    cpu = spent["cpu_ms_per_job"]
    numbers = {f"{name} CPU ms/job": cpu.get(name, 0.0) for name in PROCESSES}
    numbers["logs webhooks/job"] = round((after.get("logs", 0) - before.get("logs", 0)) / jobs, 1)
    numbers["completed"] = result["completed"]
    numbers["refused"] = result["refused"]
    numbers["all done s"] = round(result["all_done_s"])
    return numbers


def measure(bench: Bench, *, jobs: int, rounds: int, latency: float, steps: int) -> Any:
    """Setups taking turns (on, off, on, off, ...): each number per setup, per round."""
    switcher = Switcher(bench)
    out: dict[str, dict[str, list[float]]] = {ON.name: {}, OFF.name: {}}
    for round_ in range(rounds):
        for setup in (ON, OFF):
            switcher.use(setup)
            numbers = one_round(bench, jobs, latency, steps)
            log.info("[%s] round %d: %s", setup.name, round_ + 1, numbers)
            for key, value in numbers.items():
                out[setup.name].setdefault(key, []).append(value)
    switcher.use(Setup())
    return out


def markdown(results: dict[str, dict[str, list[float]]]) -> str:
    columns = list(next(iter(results.values())))
    lines = ["| setup | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name, cells in results.items():
        shown = [f"{median(cells[c]):g} ({', '.join(f'{v:g}' for v in cells[c])})" for c in columns]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench progress", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency", type=float, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="write docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    about = machine()
    begun = time.monotonic()
    with bench_stack(Setup()) as bench:
        results = measure(
            bench, jobs=args.jobs, rounds=args.rounds, latency=args.latency, steps=args.steps
        )
    text = markdown(results)
    sys.stdout.write(text + "\n")
    if args.write:
        command = (
            f"python -m bench progress --jobs {args.jobs} --rounds {args.rounds}"
            f" --latency {args.latency:g} --steps {args.steps}"
        )
        footer = (
            f"Measured by `{command}` on {about['date']} at commit {about['commit']}"
            f" ({(time.monotonic() - begun) / 60:.0f} min; {about['nproc']} cores shared with"
            f" other work, load average at the start {about['load average at start']})."
        )
        replace_section("progress", f"{text}\n\n{footer}")
    complete = all(v == args.jobs for cells in results.values() for v in cells["completed"])
    return 0 if complete else 1
