"""What the lever experiments change in the stack, beyond the product's own settings.

`make bench` measures the product as committed. A lever switches one choice back or forward
through the product's settings (environment variables) and the dev stack's server flags,
never by patching product code: designs measured and rejected left the tree, and their
tables stay in docs/BENCHMARKS.md.
"""

from __future__ import annotations

from devstack.temporal import FAST_TASK_QUEUES

# The dev server's task queues as they come: each reads new tasks at most 20 times a second.
DEFAULT_TASK_QUEUES = tuple(f"--dynamic-config-value {value}" for value in FAST_TASK_QUEUES)
