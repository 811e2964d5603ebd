"""The Temporal contract of the reconciler: its workflow and schedule names, inputs and results.

A job's workflow mirrors its own end into the row; a close it did not see coming (an
operator's terminate, a run timeout) leaves the row `pending` or `processing`. The
`ReconcileJobs` workflow, run by a schedule, settles such rows from how the workflow closed.
Stdlib and pydantic only, like `core.jobs`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

RECONCILE_WORKFLOW_NAME = "ReconcileJobs"
# The schedule's id, and the prefix of the workflow ids of its runs.
RECONCILE_SCHEDULE_ID = "mediagen-reconcile"


class JobCursor(BaseModel):
    """Where a page of rows ends: rows are read in (created_at, id) order."""

    created_at: datetime
    job_id: str


class ReconcileTotals(BaseModel):
    """What a run did: rows looked at, rows settled, rows with no workflow, rows skipped."""

    examined: int = 0
    settled: int = 0
    missing: int = 0
    errors: int = 0

    def plus(self, batch: ReconcileBatchResult) -> ReconcileTotals:
        return ReconcileTotals(
            examined=self.examined + batch.examined,
            settled=self.settled + len(batch.settled),
            missing=self.missing + len(batch.missing),
            errors=self.errors + len(batch.errors),
        )


class ReconcileInput(BaseModel):
    """A run of `ReconcileJobs`; the schedule starts it with every field left out.

    `grace_seconds` None means the workflow's own grace period. `updated_before`, `after`
    and `totals` carry a run across continue-as-new.
    """

    grace_seconds: float | None = None
    updated_before: datetime | None = None
    after: JobCursor | None = None
    totals: ReconcileTotals = Field(default_factory=ReconcileTotals)


class ReconcileBatchInput(BaseModel):
    """One page of rows not terminal and unchanged since `updated_before`, after `after`."""

    updated_before: datetime
    after: JobCursor | None = None
    limit: int


class SettledJob(BaseModel):
    """A row the reconciler ended: the status it got and how the workflow had closed."""

    job_id: str
    status: str
    workflow_status: str


class ReconcileBatchResult(BaseModel):
    """One page's outcome; `next` is where the next page starts (None: this was the last).

    `missing`: jobs whose workflow does not exist (left alone); `errors`: jobs whose
    workflow's end could not be read (left alone, logged).
    """

    examined: int
    settled: list[SettledJob] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    next: JobCursor | None = None
    attempt: int = 1
