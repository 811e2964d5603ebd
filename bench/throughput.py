"""Figures 6, 3 and 4: saturation against the bare floor, sustained load, thousands in flight."""

from __future__ import annotations

import math
from typing import Any

from bench.figures import BARE_QUEUE, BARE_STEPS, PeakSampler, Result
from bench.metrics import memory_kb, reset_peak
from bench.probe import Probe, timeouts_of
from bench.report import Row, ms
from bench.stack import Bench, bare_worker
from bench.stats import median


def saturation(
    bench: Bench, *, rounds: int, seconds: float, floor_seconds: float, concurrency: int
) -> Result:
    """Figure 6: closed loops at 0 s provider latency, the service then the floor, per round.

    Rounds alternate the two so that a change in the machine's other load hits both; each
    round's ratio is service jobs/s over floor workflows/s, and the figure is the median.
    """
    service_rates, floor_rates, ratios, details = [], [], [], []
    with bare_worker(BARE_QUEUE) as bare_pid:
        for _ in range(rounds):
            probe = Probe(bench).start()
            service = bench.load(
                "loop", concurrency=concurrency, duration=seconds, warmup=5, window=seconds,
                drain=60, fake={"latency": 0},
            )  # fmt: skip
            service["where"] = probe.stop(service["total"])
            probe = Probe(bench, bare=bare_pid).start()
            floor = bench.bare(
                queue=BARE_QUEUE, steps=BARE_STEPS, concurrency=concurrency,
                duration=floor_seconds, warmup=3, window=floor_seconds,
            )  # fmt: skip
            floor["where"] = probe.stop(floor["total"])
            service_rates.append(service["windows"][0] / seconds)
            floor_rates.append(floor["windows"][0] / floor_seconds)
            ratios.append(service_rates[-1] / floor_rates[-1])
            details.append({"service": service, "floor": floor})
    ratio, rate = median(ratios), median(service_rates)
    failures = sum(d["service"]["failed"] + d["service"]["unfinished"] for d in details)
    rows = [
        Row(
            f"6. Saturation, 0 s provider, {concurrency} in flight (jobs/s)",
            f"{rate:.1f} jobs/s" + (f" ({failures} failed)" if failures else ""),
            "≥ 25 jobs/s",
            rate >= 25 and not failures,
        ),
        Row(
            f"6. Bare floor, {concurrency} in flight (workflows/s)",
            f"{median(floor_rates):.1f} wf/s",
            "",
            None,
        ),
        Row("6. Saturation / floor", f"{ratio:.2f}", "≥ 0.85", ratio >= 0.85 and not failures),
    ]
    return Result(rows, {"rounds": details})


def sustained(bench: Bench, *, seconds: float, window: float, in_flight: int) -> Result:
    """Figure 3: `in_flight` jobs of 5 s kept in flight for `seconds`; completions per window."""
    probe = Probe(bench).start()
    result = bench.load(
        "loop", concurrency=in_flight, duration=seconds, warmup=10, window=window, drain=120,
        fake={"latency": 5},
    )  # fmt: skip
    result["where"] = probe.stop(result["total"])
    rate = median([count / window for count in result["windows"]])
    failures = result["failed"] + result["unfinished"]
    rows = [
        Row(
            f"3. Sustained, 5 s provider, {in_flight} in flight (jobs/s, failures)",
            f"{rate:.1f} jobs/s, {failures} failures",
            "≥ 10 jobs/s, 0 failures",
            rate >= 10 and failures == 0,
        )
    ]
    return Result(rows, result)


def in_flight(bench: Bench, *, jobs: int, latency: float, timeout: float) -> Result:
    """Figure 4: `jobs` jobs of `latency` s submitted at once; all must complete, promptly."""
    pid = bench.pid("worker")
    rss_before = memory_kb(pid)["VmRSS"]
    exact_peak = reset_peak(pid)
    probe = Probe(bench).start()
    with PeakSampler(pid, every=0.5) as sampler:
        result = bench.load(
            "burst", n=jobs, concurrency=50, latency=latency, timeout=timeout, fake_url=bench.fake
        )
    peak_kb = max(sampler.peak_kb, memory_kb(pid)["VmHWM"] if exact_peak else 0)
    result["where"] = probe.stop(result["completed"])
    result.update(rss_before_kb=rss_before, rss_peak_kb=peak_kb)
    timeouts = timeouts_of(result["where"], "ActivityTimeout")
    lag = result["lag_ms"]
    unfinished = result["unfinished"] + result["failed"]
    lag_p99 = lag["p99"] if unfinished <= jobs // 100 else math.inf
    rows = [
        Row(
            f"4. In flight: {jobs} jobs of {latency:g} s at once (completed)",
            f"{result['completed']}/{jobs} in {result['all_done_s']:.0f} s",
            f"all {jobs}",
            result["completed"] == jobs,
        ),
        Row("4. Worker peak RSS", f"{peak_kb / 1024:.0f} MB", "≤ 400 MB", peak_kb <= 400 * 1024),
        Row(
            "4. Activity timeouts (server) / retries (jobs)",
            f"{timeouts:.0f} / {result['retries']}",
            "0",
            timeouts == 0 and result["retries"] == 0,
        ),
        Row(
            "4. Provider finished → completed (p50 / p99)",
            f"{ms(lag['p50'])} / {ms(lag_p99) if math.isfinite(lag_p99) else 'unfinished jobs'}",
            "p99 < 2 s",
            lag_p99 < 2000,
        ),
    ]
    return Result(rows, _trim(result))


def _trim(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "last"}
