"""What the lever experiments change in the stack, beyond the product's own settings.

`make bench` measures the product as committed. The lever experiments switch one lever
back or forward through settings and environment variables where the product has them, and
through the EXPERIMENTAL modules of this package where it has not (`variant_worker`,
`variant_workflow`, `variant_api`, `variant_api_deferred`).
"""

from __future__ import annotations

import orjson

from tests.stack.temporal import FAST_TASK_QUEUES

# The dev server's task queues as they come: each reads new tasks at most 20 times a second.
DEFAULT_TASK_QUEUES = tuple(f"--dynamic-config-value {value}" for value in FAST_TASK_QUEUES)
WORKER_VARIANT = "tests.bench.variant_worker"


def variant(**options: object) -> dict[str, str]:
    """The environment that makes `variant_worker` switch `options` on."""
    return {"BENCH_VARIANT": orjson.dumps(options).decode()}
