"""The reconciler's Temporal Schedule, made to match the settings each time a worker starts."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.config import Settings
from core.reconcile import RECONCILE_SCHEDULE_ID, ReconcileInput
from workflows.reconcile import ReconcileJobsWorkflow

log = logging.getLogger(__name__)


def reconcile_schedule(settings: Settings) -> Schedule:
    """Run ReconcileJobs every `reconcile_every_seconds`, never two at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileJobsWorkflow.run,
            ReconcileInput(),
            id=RECONCILE_SCHEDULE_ID,
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(seconds=settings.reconcile_every_seconds))
            ]
        ),
        # A run still going when the next is due makes the next one pointless: it would
        # describe the same rows. (Also the SDK's default, said here because it matters.)
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one up to date; safe for every worker to call.

    An operator's pause (the schedule's state) survives: only the action, spec and policy
    are replaced. A failure is logged, not raised: the worker's first duty is to run jobs,
    and the next worker start tries again.
    """
    schedule = reconcile_schedule(settings)

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
        )

    try:
        try:
            await client.create_schedule(RECONCILE_SCHEDULE_ID, schedule)
            log.info("schedule %s created", RECONCILE_SCHEDULE_ID)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(RECONCILE_SCHEDULE_ID).update(keep_state)
            log.info("schedule %s updated", RECONCILE_SCHEDULE_ID)
    except Exception:
        log.exception("could not create or update schedule %s", RECONCILE_SCHEDULE_ID)
