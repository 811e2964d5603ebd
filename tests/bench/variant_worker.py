"""EXPERIMENTAL, for the lever experiments only: `python -m worker` with levers switched on.

`BENCH_VARIANT` (JSON) says which, all optional:
    workflow        a class of `variant_workflow.WORKFLOWS` instead of the committed workflow
    worker          extra `Worker` keyword arguments (max_cached_workflows, poller counts...)
    events          the provider webhook events asked for (committed: ["completed"])
    early_heartbeat store_output's first heartbeat at once (committed: after HEARTBEAT_EVERY)
    sandbox         "default" (the SDK's: modules re-imported for every workflow run) or "off"
Everything else is `worker.main` as committed: its clients, its activities, its settings.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import orjson
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker.main as committed
from activities import jobs as job_activities
from activities.jobs import JobActivities
from core.config import Settings
from core.jobs import PredictionResult
from core.replicate import ReplicateClient
from tests.bench.variant_workflow import CHECK_PREDICTION, WAIT_HEARTBEATING, WORKFLOWS
from workflows.generation import GenerateMediaWorkflow

VARIANT = "BENCH_VARIANT"


class WaitActivities:
    """The activities of the retried-check and heartbeating-loop ways of waiting."""

    def __init__(self, replicate: ReplicateClient) -> None:
        self._replicate = replicate

    @activity.defn(name=CHECK_PREDICTION)
    async def check_prediction(self, prediction_id: str) -> PredictionResult:
        prediction = await self._replicate.get_prediction(prediction_id)
        if not prediction.status.terminal:
            raise ApplicationError("the prediction is still running", type="PredictionPending")
        return PredictionResult(prediction=prediction)

    @activity.defn(name=WAIT_HEARTBEATING)
    async def wait_heartbeating(self, prediction_id: str) -> PredictionResult:
        interval = 1.0
        while not (
            prediction := await self._replicate.get_prediction(prediction_id)
        ).status.terminal:
            activity.heartbeat()
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 10.0)
        return PredictionResult(prediction=prediction)


def build_worker(
    options: dict[str, Any], client: Client, activities: JobActivities, settings: Settings
) -> Worker:
    waits = WaitActivities(activities._replicate)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[WORKFLOWS.get(options.get("workflow", ""), GenerateMediaWorkflow)],
        activities=[
            *committed.activity_methods(activities),
            waits.check_prediction,
            waits.wait_heartbeating,
        ],
        workflow_runner=_runner(options.get("sandbox", "")),
        **{**committed.worker_tuning(settings), **options.get("worker", {})},
    )


def _runner(sandbox: str) -> WorkflowRunner:
    if sandbox == "off":
        return UnsandboxedWorkflowRunner()
    if sandbox == "default":
        return SandboxedWorkflowRunner()
    return committed.WORKFLOW_RUNNER


def _ask_for(events: list[str]) -> None:
    request = ReplicateClient._request

    async def patched(self: ReplicateClient, method: str, url: str, **kwargs: Any) -> Any:
        body = kwargs.get("json")
        if isinstance(body, dict) and "webhook_events_filter" in body:
            body["webhook_events_filter"] = events
        return await request(self, method, url, **kwargs)

    ReplicateClient._request = patched  # type: ignore[method-assign]


async def _early_heartbeat(self: JobActivities) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(job_activities.HEARTBEAT_EVERY)


def main() -> None:
    options: dict[str, Any] = orjson.loads(os.environ.get(VARIANT, "{}"))
    if options.get("events"):
        _ask_for(options["events"])
    if options.get("early_heartbeat"):
        JobActivities._heartbeat = _early_heartbeat  # type: ignore[method-assign]
    committed.build_worker = functools.partial(build_worker, options)
    committed.main()


if __name__ == "__main__":
    main()
