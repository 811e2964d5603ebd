"""Figures 2 and 5: one job's overhead, and one big output (figure 1: bench/starts.py).

Each figure returns a `Result`: its table rows and the details (per-run numbers, where the
time went) that docs/BENCHMARKS.md keeps beside the table.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.metrics import memory_kb, reset_peak
from bench.probe import Probe
from bench.report import Row, ms
from bench.stack import Bench, bare_worker
from bench.stats import median, percentile
from core.config import get_settings
from core.keys import media_key
from core.storage import Storage

BARE_QUEUE = "bench-bare"
# The job workflow's happy path at 0 s, activity for activity: create, mirror (local),
# store, metadata (local), mirror (local).
BARE_STEPS = "RLRLL"
# Jobs of figure 1 start on a queue no worker polls: the API does all its work, and the
# worker does not compete for the two cores with thousands of jobs nobody waits for.
SUBMIT_SINK_QUEUE = "bench-submit-sink"
POLL_SECONDS = 0.01  # the polling client of figure 2 asks for the status every 10 ms
BIG_OUTPUT = 100 * 1024 * 1024


@dataclass
class Result:
    rows: list[Row]
    details: dict[str, Any] = field(default_factory=dict)


def overhead(bench: Bench, *, runs: int, jobs: int) -> Result:
    """Figure 2: submit → completed one job at a time, against the bare floor, per run."""
    service_p50, service_p99, floor_p50, floor_p99, ratios = [], [], [], [], []
    details: dict[str, Any] = {"runs": []}
    with bare_worker(BARE_QUEUE):
        for run in range(runs):
            probe = Probe(bench).start()
            warm = 3 if run == 0 else 1
            service = bench.load("jobs", n=jobs, warm=warm, poll=POLL_SECONDS, fake={"latency": 0})
            spent = probe.stop(jobs + warm)
            floor = bench.bare(queue=BARE_QUEUE, steps=BARE_STEPS, n=jobs)
            times, floor_times = service["e2e_ms"], floor["e2e_ms"]
            service_p50.append(percentile(times, 50))
            service_p99.append(percentile(times, 99))
            floor_p50.append(percentile(floor_times, 50))
            floor_p99.append(percentile(floor_times, 99))
            ratios.append(service_p50[-1] / floor_p50[-1])
            details["runs"].append(
                {
                    "service_p50_ms": round(service_p50[-1]),
                    "service_p99_ms": round(service_p99[-1]),
                    "floor_p50_ms": round(floor_p50[-1]),
                    "floor_p99_ms": round(floor_p99[-1]),
                    "failed": service["failed"],
                    "where": spent,
                }
            )
    p50, p99 = median(service_p50), median(service_p99)
    rows = [
        Row(
            "2. Overhead, 1 job at a time, 0 s provider (p50 / p99)",
            f"{ms(p50)} / {ms(p99)}",
            "p50 ≤ 150 ms",
            p50 <= 150,
        ),
        Row(
            f"2. Bare floor: {len(BARE_STEPS)} no-op activities, {BARE_STEPS} (p50 / p99)",
            f"{ms(median(floor_p50))} / {ms(median(floor_p99))}",
            "",
            None,
        ),
        Row("2. Overhead / floor (p50 ratio)", f"{median(ratios):.2f}x", "", None),
    ]
    return Result(rows, details)


class PeakSampler:
    """Samples a process's VmRSS every `every` s in a thread; `peak_kb` is the highest seen."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self._pid, self._every = pid, every
        self._stop = threading.Event()
        self.peak_kb = memory_kb(pid)["VmRSS"]
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.peak_kb = max(self.peak_kb, memory_kb(self._pid)["VmRSS"])
            except (OSError, KeyError):
                return


async def _stored_size(key: str) -> int:
    storage = Storage.from_settings(get_settings())
    try:
        return (await storage.stat(key)).size
    finally:
        await storage.close()


def big_output(bench: Bench) -> Result:
    """Figure 5: one job whose output is 100 MiB; the worker's RSS growth while it streams."""
    pid = bench.pid("worker")
    before = memory_kb(pid)["VmRSS"]
    exact_peak = reset_peak(pid)
    with PeakSampler(pid) as sampler:
        result = bench.load("jobs", n=1, poll=0.1, fake={"latency": 0, "output_bytes": BIG_OUTPUT})
    peak = max(sampler.peak_kb, memory_kb(pid)["VmHWM"] if exact_peak else 0)
    growth_mb = (peak - before) / 1024
    document = result["last"]
    outputs = document.get("outputs") or [{}]
    stored = 0
    if document["status"] == "completed" and outputs[0].get("url"):
        ext = urlsplit(outputs[0]["url"]).path.rsplit(".", 1)[-1]  # the url is signed
        stored = asyncio.run(_stored_size(media_key(document["id"], 0, ext)))
    streamed = stored == BIG_OUTPUT and outputs[0].get("file_size") == BIG_OUTPUT
    seconds = result["e2e_ms"][0] / 1000
    rows = [
        Row(
            "5. Big output: 100 MiB streamed to the bucket (worker RSS growth)",
            f"{growth_mb:.1f} MB in {seconds:.1f} s" + ("" if streamed else " (NOT stored)"),
            "< 32 MB",
            growth_mb < 32 and streamed,
        )
    ]
    details = {
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "peak_from": "VmHWM after clear_refs + 20 ms sampling" if exact_peak else "sampling",
        "stored_bytes": stored,
        "seconds": round(seconds, 2),
    }
    return Result(rows, details)
