"""ReconcileJobs pages through the rows with one cutoff, and continues where each page ended."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from core.reconcile import (
    JobCursor,
    ReconcileBatchInput,
    ReconcileBatchResult,
    ReconcileInput,
    ReconcileTotals,
    SettledJob,
)
from worker.main import WORKFLOW_RUNNER
from workflows.reconcile import BATCH_SIZE, GRACE, ReconcileJobsWorkflow


def cursor(n: int) -> JobCursor:
    return JobCursor(created_at=datetime(2025, 1, 1, tzinfo=UTC), job_id=f"job-{n}")


class Pages:
    """Three scripted pages under the activity's name; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[ReconcileBatchInput] = []
        self.started: datetime | None = None
        settled = SettledJob(job_id="job-1", status="failed", workflow_status="TERMINATED")
        self.pages = [
            ReconcileBatchResult(examined=BATCH_SIZE, settled=[settled], next=cursor(1)),
            ReconcileBatchResult(examined=BATCH_SIZE, missing=["job-2"], next=cursor(2)),
            ReconcileBatchResult(examined=3, errors=["job-3"]),
        ]

    @activity.defn(name="reconcile_batch")
    async def reconcile_batch(self, request: ReconcileBatchInput) -> ReconcileBatchResult:
        self.requests.append(request)
        return self.pages[len(self.requests) - 1]


def test_the_stub_has_the_activitys_name():
    stub = activity._Definition.must_from_callable(Pages().reconcile_batch)
    real = activity._Definition.must_from_callable(ReconcileActivities.reconcile_batch)

    assert stub.name == real.name


async def run(env, pages: Pages, request: ReconcileInput) -> tuple[ReconcileTotals, datetime]:
    task_queue = f"reconcile-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ReconcileJobsWorkflow],
        activities=[pages.reconcile_batch],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await env.client.start_workflow(
            ReconcileJobsWorkflow.run, request, id=task_queue, task_queue=task_queue
        )
        totals = await handle.result()
        started = (await handle.describe()).start_time
    return totals, started


async def test_pages_follow_each_other_under_one_cutoff(env):
    pages = Pages()

    totals, started = await run(env, pages, ReconcileInput())

    assert totals == ReconcileTotals(examined=2 * BATCH_SIZE + 3, settled=1, missing=1, errors=1)
    assert [r.after for r in pages.requests] == [None, cursor(1), cursor(2)]
    assert {r.limit for r in pages.requests} == {BATCH_SIZE}
    assert len({r.updated_before for r in pages.requests}) == 1
    # The cutoff is the run's first workflow task time (a little after its start) less GRACE.
    cutoff = started - pages.requests[0].updated_before
    assert GRACE - timedelta(seconds=1) < cutoff <= GRACE


async def test_a_run_may_set_its_own_grace(env):
    pages = Pages()

    _, started = await run(env, pages, ReconcileInput(grace_seconds=0))

    assert timedelta(seconds=-1) < started - pages.requests[0].updated_before <= timedelta(0)
