"""The setups the figures and the lever experiments run with.

`committed` is the product as it is in the repository: what `make bench` measures. The
others switch levers on through settings and environment variables where the product has
them, and through the EXPERIMENTAL modules of this package where it has not yet
(`variant_worker`, `variant_workflow`, `variant_api`); docs/BENCHMARKS.md turns each into
a proposed diff.
"""

from __future__ import annotations

import orjson

from tests.bench.stack import Setup

# The dev server has one history shard, and each of its task queues (transfer: workflow and
# activity tasks to matching; timer: timers and timeouts) reads new tasks at most 20 times a
# second per shard by default: every workflow task waits ~25 ms for the next read.
FAST_QUEUES = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
)  # fmt: skip
WORKER_VARIANT = "tests.bench.variant_worker"


def variant(**options: object) -> dict[str, str]:
    """The environment that makes `variant_worker` switch `options` on."""
    return {"BENCH_VARIANT": orjson.dumps(options).decode()}


PROPOSED_WORKER = variant(
    workflow="proposed", events=["completed"], late_heartbeat=True,
    worker={"max_cached_workflows": 2000},
)  # fmt: skip

SETUPS: dict[str, Setup] = {
    "committed": Setup(),
    # Every proposal of docs/BENCHMARKS.md at once.
    "proposed": Setup(
        "proposed: fast task queues + local mirror + webhook-first wait + completed-only"
        " webhooks + late first heartbeat + 2000 cached workflows",
        temporal_args=FAST_QUEUES,
        worker_module=WORKER_VARIANT,
        worker_env=PROPOSED_WORKER,
    ),
}
