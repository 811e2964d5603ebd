"""ReconcileJobs: settle job rows whose workflow closed without mirroring its end.

A job's workflow writes its own end into the row before it closes; an operator's terminate,
a run timeout or a workflow that failed outside its own handling closes it with the row
still `pending` or `processing`, forever. A schedule (worker/schedules.py) runs this
workflow every minute: it pages through the rows that are not terminal and have gone
quiet, and the activity settles each one whose workflow is closed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows import policies

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from core.reconcile import (
        RECONCILE_WORKFLOW_NAME,
        ReconcileBatchInput,
        ReconcileInput,
        ReconcileTotals,
    )

# Only rows unchanged for this long are looked at: a job that mirrored a status within the
# last minute is plainly alive, and describing every fresh job each run would be wasted calls.
GRACE = timedelta(seconds=60)
# Rows per activity: 200 describes at 10 at a time take a second or two, well inside the
# batch's timeout, and one page's result (the ids it settled) stays small in the history.
BATCH_SIZE = 200


@workflow.defn(name=RECONCILE_WORKFLOW_NAME)
class ReconcileJobsWorkflow:
    """Pages through the quiet unfinished rows and settles those whose workflow has closed."""

    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileTotals:
        grace = GRACE if request.grace_seconds is None else timedelta(seconds=request.grace_seconds)
        # One cutoff for the whole run (and its continuations), so the pages are one snapshot.
        updated_before = request.updated_before or workflow.now() - grace
        totals, after = request.totals, request.after
        while True:
            batch = await workflow.execute_activity_method(
                ReconcileActivities.reconcile_batch,
                ReconcileBatchInput(updated_before=updated_before, after=after, limit=BATCH_SIZE),
                start_to_close_timeout=policies.RECONCILE_BATCH.start_to_close,
                heartbeat_timeout=policies.RECONCILE_BATCH.heartbeat,
                retry_policy=policies.RECONCILE_BATCH.retry,
                summary="reconcile jobs",
            )
            totals = totals.plus(batch)
            if batch.next is None:
                return totals
            after = batch.next
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    ReconcileInput(updated_before=updated_before, after=after, totals=totals)
                )
