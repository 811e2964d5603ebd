"""Prometheus metrics of the API process: requests by route and code, latency, jobs by status."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "mediagen_http_requests_total",
    "HTTP requests by route template, method and status code",
    ["route", "method", "code"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "mediagen_http_request_duration_seconds",
    "HTTP request latency by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


class JobsByStatus(Collector):
    """`mediagen_jobs{status=…}`, read from the last count the /metrics handler made."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("mediagen_jobs", "Jobs by status", labels=["status"])
        for status, count in sorted(self.counts.items()):
            gauge.add_metric([status], count)
        yield gauge


JOBS_BY_STATUS = JobsByStatus()
REGISTRY.register(JOBS_BY_STATUS)
