"""`python -m bench levers`: what each lever buys, each measured against the committed setup.

One stack; a lever's setups take turns (A, B, ..., then A, B, ... again), the children a
setup changes being restarted in between, so a change in the machine's other load hits
every setup alike. Each cell is the median over the rounds. Alongside the rates, Temporal's
persistence calls per job, which do not depend on the machine's load at all.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import figures, starts
from bench.figures import BARE_QUEUE, BARE_STEPS
from bench.lever_list import LEVERS, Lever
from bench.probe import Probe, timeouts_of
from bench.report import machine, replace_section
from bench.stack import Bench, Setup, bare_worker, bench_stack
from bench.stats import median, percentile

log = logging.getLogger("bench")
Numbers = dict[str, float]
APP = ("temporal", "worker", "api")


def _calls(spent: dict[str, Any]) -> Numbers:
    """What a job cost, whatever else the machine was doing: Temporal's calls, CPU."""
    per_job, cpu = spent["db_calls_per_job"], spent["cpu_ms_per_job"]
    return {
        "db calls/job": round(sum(per_job.values()), 1),
        "history updates/job": per_job.get("UpdateWorkflowExecution", 0.0),
        "temporal CPU ms/job": cpu.get("temporal", 0.0),
        "worker CPU ms/job": cpu.get("worker", 0.0),
    }


def overhead(bench: Bench) -> Numbers:
    service = bench.load("jobs", n=15, warm=2, poll=figures.POLL_SECONDS, fake={"latency": 0})
    with bare_worker(BARE_QUEUE):
        floor = bench.bare(queue=BARE_QUEUE, steps=BARE_STEPS, n=15)
    return {
        "overhead p50 ms": round(percentile(service["e2e_ms"], 50)),
        "floor p50 ms": round(percentile(floor["e2e_ms"], 50)),
    }


def saturation(bench: Bench) -> Numbers:
    probe = Probe(bench).start()
    service = bench.load(
        "loop", concurrency=50, duration=15, warmup=5, window=15, drain=60, fake={"latency": 0}
    )
    spent = probe.stop(service["total"])
    with bare_worker(BARE_QUEUE):
        floor = bench.bare(
            queue=BARE_QUEUE, steps=BARE_STEPS, concurrency=50, duration=10, warmup=3, window=10
        )
    rate, floor_rate = service["windows"][0] / 15, floor["windows"][0] / 10
    return {
        "jobs/s": round(rate, 1),
        "floor wf/s": round(floor_rate, 1),
        "ratio": round(rate / floor_rate, 2),
        "failed": service["failed"] + service["unfinished"],
        **_calls(spent),
    }


def sustained(bench: Bench) -> Numbers:
    probe = Probe(bench).start()
    result = bench.load(
        "loop", concurrency=200, duration=30, warmup=10, window=30, drain=120,
        fake={"latency": 5},
    )  # fmt: skip
    spent = probe.stop(result["total"])
    return {
        "jobs/s": round(result["windows"][0] / 30, 1),
        "failed": result["failed"] + result["unfinished"],
        "e2e p50 s": round(result["e2e_s"]["p50"], 1),
        **_calls(spent),
    }


def in_flight(bench: Bench, *, jobs: int = 1000) -> Numbers:
    result = figures_in_flight(bench, jobs=jobs, latency=30, timeout=jobs * 0.12 + 120)
    lag = result.details["lag_ms"]
    return {
        "lag p50 ms": round(lag["p50"]),
        "lag p99 ms": round(lag["p99"]),
        "unfinished": result.details["unfinished"] + result.details["failed"],
        "peak RSS MB": round(result.details["rss_peak_kb"] / 1024),
        "all done s": round(result.details["all_done_s"]),
        # a workflow task its worker did not pick up in time: it goes back to the shared
        # queue and costs a full replay (the `sticky` lever)
        "task timeouts": timeouts_of(result.details["where"], "WorkflowTaskTimeout"),
        **_calls(result.details["where"]),
    }


def submit(bench: Bench) -> Numbers:
    result = starts.submit(bench, runs=1, seconds=10, clients=(50,)).details["runs"]["50"][0]
    return {
        "req/s": round(result["rps"]),
        "p50 ms": round(result["latency_ms"]["p50"]),
        "p99 ms": round(result["latency_ms"]["p99"]),
        "API CPU cores": result["where"]["cpu_cores"]["api"],
    }


def floor(bench: Bench) -> Numbers:
    with bare_worker(BARE_QUEUE):
        starts = bench.bare(queue="bench-sink", steps="R", starts=True, concurrency=50,
                            duration=8, warmup=2, warm=0)  # fmt: skip
        loop = bench.bare(
            queue=BARE_QUEUE, steps=BARE_STEPS, concurrency=50, duration=10, warmup=3, window=10
        )
        one = bench.bare(queue=BARE_QUEUE, steps=BARE_STEPS, n=15)
    return {
        "starts/s": round(starts["rps"]),
        "floor wf/s": round(loop["windows"][0] / 10, 1),
        "floor p50 ms": round(median(one["e2e_ms"])),
    }


def figures_in_flight(bench: Bench, *, jobs: int, latency: float, timeout: float) -> figures.Result:
    from bench.throughput import in_flight as figure_in_flight

    return figure_in_flight(bench, jobs=jobs, latency=latency, timeout=timeout)


def backlog(bench: Bench) -> Numbers:
    """More jobs finishing at once than the worker completes: workflow tasks queue up."""
    return in_flight(bench, jobs=3000)


def big_output(bench: Bench) -> Numbers:
    details = figures.big_output(bench).details
    return {
        "RSS growth MB": round((details["rss_peak_kb"] - details["rss_before_kb"]) / 1024, 1),
        "seconds": details["seconds"],
    }


MEASURES: dict[str, Callable[[Bench], Numbers]] = {
    "big_output": big_output,
    "overhead": overhead,
    "saturation": saturation,
    "sustained": sustained,
    "in_flight": in_flight,
    "backlog": backlog,
    "submit": submit,
    "floor": floor,
}


@dataclass
class Switcher:
    """Puts the stack's children in a setup, restarting only those whose command changed."""

    bench: Bench

    def __post_init__(self) -> None:
        self._committed = {name: self._state(name) for name in APP}
        self._current = Setup()

    def _state(self, name: str) -> tuple[list[str], dict[str, str]]:
        spec = self.bench.stack.spec(name)
        return list(spec.argv or []), dict(spec.env)

    def use(self, setup: Setup) -> None:
        if setup == self._current:
            return
        before = {name: self._state(name) for name in APP}
        for name, (argv, env) in self._committed.items():
            spec = self.bench.stack.spec(name)
            spec.argv, spec.env = list(argv), dict(env)
        setup.apply(self.bench.stack)
        changed = [name for name in APP if self._state(name) != before[name]]
        if "temporal" in changed:
            changed = list(APP)  # clients reconnect, but start them afresh to be sure
        for name in changed:
            self.bench.stack.restart(name)
        self._current = setup
        time.sleep(2)


def measure(bench: Bench, lever: Lever, rounds: int) -> dict[str, dict[str, list[float]]]:
    switcher = Switcher(bench)
    out: dict[str, dict[str, list[float]]] = {s.name: {} for s in lever.setups}
    for round_ in range(rounds):
        for setup in lever.setups:
            switcher.use(setup)
            for name in lever.measures:
                numbers = MEASURES[name](bench)
                log.info("  [%s] round %d %s: %s", setup.name, round_ + 1, name, numbers)
                for key, value in numbers.items():
                    out[setup.name].setdefault(f"{name}: {key}", []).append(value)
    switcher.use(Setup())
    return out


def _markdown(lever: Lever, results: dict[str, dict[str, list[float]]]) -> str:
    columns = list(next(iter(results.values())))
    lines = [f"### {lever.title}", "", lever.question, ""]
    lines.append("| setup | " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * (len(columns) + 1))
    for name, cells in results.items():
        shown = [
            f"{median(cells[c]):g}" + (f" ({', '.join(f'{v:g}' for v in cells[c])})"
                                       if len(cells[c]) > 1 else "")
            for c in columns
        ]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def run_levers(args: argparse.Namespace) -> int:
    """Each lever's table goes to its own section of docs/BENCHMARKS.md as soon as it is done."""
    chosen = [lever for lever in LEVERS if not args.levers or lever.key in args.levers.split(",")]
    about = machine()
    dump: dict[str, Any] = {}
    with bench_stack(Setup()) as bench:
        for lever in chosen:
            begun = time.monotonic()
            log.info("lever %s: %s", lever.key, lever.title)
            results = measure(bench, lever, lever.rounds if not args.quick else 1)
            dump[lever.key] = results
            text = _markdown(lever, results)
            log.info("\n%s", text)
            footer = (
                f"Measured by `python -m bench levers --levers {lever.key}` on"
                f" {about['date']} at commit {about['commit']}"
                f" ({(time.monotonic() - begun) / 60:.0f} min; load average"
                f" at the start of the session {about['load average at start']})."
            )
            if not args.quick:
                replace_section(f"lever-{lever.key}", f"{text}\n\n{footer}")
            if args.json:
                Path(args.json).write_text(orjson.dumps(dump, option=orjson.OPT_INDENT_2).decode())
    return 0
