"""`Probe`: what one figure cost, read around its load (CPU per process, Temporal's work).

Temporal's dev server keeps everything in one SQLite file behind a single connection, so
its persistence calls per job are the currency of throughput: the probe reports them, and
the SDK's view from the worker (workflow-task queueing and execution, activity latencies).
"""

from __future__ import annotations

import time
from typing import Any

from bench.metrics import Series, counter_growth, cpu_seconds, scrape, timings
from bench.stack import Bench

SERVER = (("persistence_latency", "operation"), ("visibility_persistence_latency", "operation"))
WORKER = (
    ("temporal_workflow_task_schedule_to_start_latency", "task_queue", "wft queued"),
    ("temporal_workflow_task_execution_latency", "workflow_type", "wft run"),
    ("temporal_request_latency", "operation", ""),
    ("temporal_activity_execution_latency", "activity_type", "activity "),
)
CHILDREN = ("postgres", "temporal", "s3", "fake_replicate", "worker", "api")
# The worker's workflow cache: a miss is a workflow task whose workflow had to be rebuilt by
# replaying its whole history (evicted from the cache, or taken from another worker).
STICKY_CACHE = {
    "hit": "temporal_sticky_cache_hit",
    "miss": "temporal_sticky_cache_miss",
    "evicted": "temporal_sticky_cache_total_forced_eviction",
}


class Probe:
    """Snapshots at `start()`, differences at `stop(jobs)`; extra pids are counted too."""

    def __init__(self, bench: Bench, **extra_pids: int) -> None:
        self._bench = bench
        self._pids = {name: bench.pid(name) for name in CHILDREN} | extra_pids

    def start(self) -> Probe:
        self._server, self._worker = self._scrape()
        self._cpu = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._begun = time.monotonic()
        return self

    def _scrape(self) -> tuple[Series, Series]:
        return scrape(self._bench.temporal_metrics), scrape(self._bench.worker_metrics)

    def stop(self, jobs: int) -> dict[str, Any]:
        """CPU cores per process, and Temporal's calls per job (`jobs` jobs were done)."""
        elapsed = time.monotonic() - self._begun
        server, worker = self._scrape()
        used = {name: cpu_seconds(pid) - self._cpu[name] for name, pid in self._pids.items()}
        cpu = {name: round(seconds / elapsed, 2) for name, seconds in used.items()}
        # CPU per job hardly depends on what else the machine runs; rates do.
        cpu_per_job = {
            name: round(seconds * 1000 / max(jobs, 1), 1) for name, seconds in used.items()
        }
        per_job: dict[str, float] = {}
        db_ms = 0.0
        for metric, label in SERVER:
            for t in timings(self._server, server, metric, label):
                per_job[t.name] = round(t.calls / max(jobs, 1), 1)
                db_ms += t.calls * t.mean_ms
        sdk: dict[str, float] = {}
        for metric, label, prefix in WORKER:
            for t in timings(self._worker, worker, metric, label, seconds=0.001)[:4]:
                name = prefix if prefix and not prefix.endswith(" ") else f"{prefix}{t.name}"
                sdk[name] = round(t.mean_ms, 1)
        cache = {
            key: round(counter_growth(self._worker, worker, metric) / max(jobs, 1), 2)
            for key, metric in STICKY_CACHE.items()
        }
        timeouts: dict[str, float] = {}
        for (name, labels), value in server.items():
            delta = value - self._server.get((name, labels), 0.0)
            if name.endswith("_timeout") and delta > 0:
                # operation: TimerActiveTaskActivityTimeout or ...WorkflowTaskTimeout
                kind = dict(labels).get("operation", "").removeprefix("TimerActiveTask")
                key = f"{kind or 'unknown'} {name}"
                timeouts[key] = timeouts.get(key, 0.0) + delta
        return {
            "seconds": round(elapsed, 1),
            "cpu_cores": cpu,
            "cpu_ms_per_job": cpu_per_job,
            "db_calls_per_job": per_job,
            "db_ms_per_job": round(db_ms / max(jobs, 1), 1),
            "sdk_mean_ms": sdk,
            "server_timeouts": timeouts,
            "sticky_cache_per_job": cache,
        }


def timeouts_of(spent: dict[str, Any], kind: str) -> float:
    """How many of the server's timeouts during a figure were of `kind` (e.g. ActivityTimeout)."""
    counts: dict[str, float] = spent["server_timeouts"]
    return sum(n for key, n in counts.items() if key.startswith(kind))
