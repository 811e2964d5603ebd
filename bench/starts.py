"""Figures 1 and 10: how fast submits are accepted, how soon their workflows start, and the
peers' run (200 slow jobs at once).

A submit commits its row and an outbox entry and answers; the API's starter starts the
workflow afterwards (api/starter.py). So figure 1 compares the submit rate with the rate at
which Temporal itself can start workflows (a no-op workflow started back to back by as many
callers, measured in the same run), and also reports how long the starter then took to
drain the outbox. Figure 1's jobs go to a task queue no worker polls: the worker does not
compete for the two cores with thousands of jobs nobody waits for.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from bench.figures import SUBMIT_SINK_QUEUE, Result
from bench.probe import Probe
from bench.report import Row, ms
from bench.stack import Bench
from bench.stats import median, percentile, summary
from core.config import get_settings
from core.temporal import connect_temporal
from devstack.health import asyncpg_dsn

DRAIN_TIMEOUT = 120.0  # how long the outbox may take to empty after a run
PEERS = {"jobs": 200, "latency": 20.0, "target_s": 30.0}


async def _drain(database_url: str) -> float:
    """Seconds until the start outbox is empty (NaN: not within DRAIN_TIMEOUT)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    begun = time.monotonic()
    try:
        while time.monotonic() - begun < DRAIN_TIMEOUT:
            if not await connection.fetchval("SELECT count(*) FROM workflow_starts"):
                return time.monotonic() - begun
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return float("nan")


class SinkApi:
    """The API restarted with its workflows on a queue no worker polls, for the block."""

    def __init__(self, bench: Bench) -> None:
        self._bench = bench
        self._spec = bench.stack.spec("api")
        self._committed = dict(self._spec.env)

    def __enter__(self) -> SinkApi:
        self._spec.env = {**self._committed, "TEMPORAL_TASK_QUEUE": SUBMIT_SINK_QUEUE}
        self._bench.stack.restart("api")
        return self

    def __exit__(self, *exc: object) -> None:
        self._spec.env = self._committed
        self._bench.stack.restart("api")
        asyncio.run(_settle_sink_jobs(self._bench.stack.settings.database_url))


async def _settle_sink_jobs(database_url: str) -> None:
    """Mark the block's jobs (pending for ever: no worker polls their queue) canceled.

    Left pending, every one of them would be described by the reconciler each minute for the
    rest of the run, a Temporal load the later figures would pay for.
    """
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("UPDATE jobs SET status = 'canceled' WHERE status = 'pending'")
    finally:
        await connection.close()


def submit(bench: Bench, *, runs: int, seconds: float, clients: tuple[int, ...]) -> Result:
    """Figure 1: closed-loop submit clients against Temporal's bare start rate, per run."""
    database_url = bench.stack.settings.database_url
    by_clients: dict[int, list[dict[str, Any]]] = {n: [] for n in clients}
    with SinkApi(bench):
        for _ in range(runs):
            for n in clients:
                probe = Probe(bench).start()
                run = bench.load("submit", concurrency=n, duration=seconds, warmup=2, latency=0)
                run["where"] = probe.stop(run["requests"])
                run["drain_s"] = round(asyncio.run(_drain(database_url)), 1)
                starts = bench.bare(
                    queue="bench-sink", steps="R", starts=True, concurrency=n,
                    duration=seconds, warmup=2, warm=0,
                )  # fmt: skip
                run["bare_starts_rps"] = round(starts["rps"], 1)
                run["ratio"] = round(run["rps"] / starts["rps"], 2)
                by_clients[n].append(run)
    rows = []
    for n, results in by_clients.items():
        rps = median([r["rps"] for r in results])
        ratio = median([r["ratio"] for r in results])
        p50 = median([r["latency_ms"]["p50"] for r in results])
        p99 = median([r["latency_ms"]["p99"] for r in results])
        errors = sum(r["errors"] for r in results)
        bare = median([r["bare_starts_rps"] for r in results])
        rows += [
            Row(
                f"1. Submit, {n} clients (req/s; Temporal's bare starts/s)",
                f"{rps:.0f} req/s; {bare:.0f} starts/s = {ratio:.2f}x"
                + (f" ({errors} errors)" if errors else ""),
                "≥ 2x bare starts",
                ratio >= 2 and not errors,
            ),
            Row(
                f"1. Submit latency, {n} clients (p50 / p99)",
                f"{ms(p50)} / {ms(p99)}",
                "p99 ≤ 100 ms" if n == 20 else "",
                p99 <= 100 if n == 20 else None,
            ),
        ]
    return Result(rows, {"runs": {str(n): results for n, results in by_clients.items()}})


async def _start_lags(sent: list[list[Any]]) -> list[float]:
    """Per job: its workflow's start time (Temporal's clock) minus its submit's send time."""
    client = await connect_temporal(get_settings())
    gate = asyncio.Semaphore(16)
    lags: list[float] = []

    async def one(at: float, job_id: str) -> None:
        async with gate:
            described = await client.get_workflow_handle(job_id).describe()
        started: datetime = described.start_time
        lags.append((started.timestamp() - at) * 1000)

    await asyncio.gather(*(one(at, job_id) for at, job_id in sent))
    return lags


def submit_to_start(bench: Bench, *, runs: int, rate: float, seconds: float) -> Result:
    """Figure 1b: submits at a steady `rate`; submit → workflow started, per run."""
    results = []
    with SinkApi(bench):
        for _ in range(runs):
            probe = Probe(bench).start()
            run = bench.load("paced", rate=rate, duration=seconds, latency=0)
            run["where"] = probe.stop(len(run["sent"]))
            asyncio.run(_drain(bench.stack.settings.database_url))
            lags = asyncio.run(_start_lags(run.pop("sent")))
            run["start_lag_ms"] = summary(lags)
            run["p99"] = percentile(lags, 99)
            results.append(run)
    p50 = median([r["start_lag_ms"]["p50"] for r in results])
    p99 = median([r["p99"] for r in results])
    row = Row(
        f"1. Submit → workflow started, {rate:g} submits/s (p50 / p99)",
        f"{ms(p50)} / {ms(p99)}",
        "p99 ≤ 250 ms",
        p99 <= 250,
    )
    return Result([row], {"runs": results})


def figure(
    bench: Bench, *, runs: int, seconds: float, clients: tuple[int, ...], rate: float
) -> Result:
    """Figure 1 whole: the submit rates, then submit → workflow started at a steady rate."""
    rates = submit(bench, runs=runs, seconds=seconds, clients=clients)
    lag = submit_to_start(bench, runs=runs, rate=rate, seconds=seconds)
    return Result(rates.rows + lag.rows, {**rates.details, "paced": lag.details["runs"]})


def peers(bench: Bench) -> Result:
    """Figure 10: the peers' run, 200 jobs of 20 s submitted at once, all done by 30 s?"""
    jobs, latency, target = PEERS["jobs"], PEERS["latency"], PEERS["target_s"]
    probe = Probe(bench).start()
    run = bench.load(
        "burst", n=int(jobs), concurrency=int(jobs), latency=latency,
        timeout=latency + 60, fake_url=bench.fake,
    )  # fmt: skip
    run["where"] = probe.stop(int(jobs))
    done = run["completed"] == jobs
    row = Row(
        f"10. Peers' run: {jobs:.0f} jobs of {latency:.0f} s at once (last completed after)",
        f"{run['all_done_s']:.1f} s, {run['completed']}/{jobs:.0f} completed, "
        f"submits took {run['submit_s']:.1f} s",
        f"all within {target:.0f} s",
        done and run["all_done_s"] <= target,
    )
    return Result([row], {"run": run})
