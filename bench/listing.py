"""Figure 7 (issue #4): the first page of 10,000 jobs, and filtered pages, through the API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.figures import Result
from bench.report import Row, ms
from bench.stack import Bench
from bench.stats import percentile
from core.api_keys import bearer
from devstack.seed import MODELS, fill, unfill

PAGES = {
    "first page": {},
    "status=completed": {"status": "completed"},
    f"model_name={MODELS[7]}": {"model_name": MODELS[7]},
}


def listing(bench: Bench, *, jobs: int, requests: int) -> Result:
    """Seed `jobs` rows, then time `requests` sequential GET /api/v1/jobs per page (warm)."""
    asyncio.run(fill(bench.stack.settings.database_url, jobs))
    try:
        return _measure(bench, jobs=jobs, requests=requests)
    finally:  # the later figures must not pay for the reconciler reading these rows
        asyncio.run(unfill(bench.stack.settings.database_url))


def _measure(bench: Bench, *, jobs: int, requests: int) -> Result:
    rows: list[Row] = []
    pages: dict[str, dict[str, Any]] = {}
    with httpx.Client(
        base_url=bench.api, headers=bearer(bench.stack.api_key), timeout=10
    ) as client:
        for name, params in PAGES.items():
            for _ in range(10):  # warm the connection, the pool and PostgreSQL's cache
                client.get("/api/v1/jobs", params=params).raise_for_status()
            times, total = [], 0
            for _ in range(requests):
                begun = time.perf_counter()
                response = client.get("/api/v1/jobs", params=params)
                times.append((time.perf_counter() - begun) * 1000)
                response.raise_for_status()
                total = response.json()["total"]
            p50, p99 = percentile(times, 50), percentile(times, 99)
            pages[name] = {
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "total": total,
            }
            rows.append(
                Row(
                    f"7. List {jobs:,} jobs, {name} (p50 / p99)",
                    f"{ms(p50)} / {ms(p99)}",
                    "p99 < 50 ms",
                    p99 < 50,
                )
            )
    return Result(rows, {"jobs": jobs, "requests": requests, "pages": pages})
