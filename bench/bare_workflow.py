"""The floor Temporal sets: a workflow of N activities that do nothing.

`steps` spells the activities in order: `R` a (regular) activity, `L` a local activity.
"RLRLL" has the job workflow's five activities on its happy path (create, mirror, store,
metadata, mirror; `figures.BARE_STEPS`). Kept free of any import but temporalio, for the workflow sandbox.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BARE_WORKFLOW = "BenchBare"
TIMEOUT = timedelta(seconds=30)


@activity.defn(name="bench_noop")
async def noop(index: int) -> int:
    """Does nothing: what is left is Temporal's own cost."""
    return index


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    """Runs `steps` no-op activities one after another."""

    @workflow.run
    async def run(self, steps: str) -> int:
        for index, kind in enumerate(steps):
            if kind == "L":
                await workflow.execute_local_activity(noop, index, start_to_close_timeout=TIMEOUT)
            else:
                await workflow.execute_activity(noop, index, start_to_close_timeout=TIMEOUT)
        return len(steps)
