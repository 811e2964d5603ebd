"""EXPERIMENTAL, for the lever experiments only: the job workflow with one lever changed.

Each class is `workflows.generation.GenerateMediaWorkflow` with one or two methods
overridden, registered under the same workflow name, so the API and the fake drive it
unchanged. docs/BENCHMARKS.md says what each one changes and what that bought.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import policies
from workflows.generation import GenerateMediaWorkflow

with workflow.unsafe.imports_passed_through():
    from core.jobs import (
        WORKFLOW_NAME,
        GenerateMediaInput,
        GenerateMediaResult,
        Prediction,
        PredictionResult,
    )

CHECK_PREDICTION = "bench_check_prediction"
WAIT_HEARTBEATING = "bench_wait_heartbeating"
# A retried check: each "not finished yet" is a failed attempt that Temporal retries itself.
CHECK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=1.5,
    maximum_interval=policies.POLL_MAXIMUM,
    maximum_attempts=0,
    non_retryable_error_types=policies.NON_RETRYABLE,
)


class RegularSteps:
    """The status mirror and the metadata document as (regular) activities, as before."""

    async def _step(
        self,
        activity: Any,
        arg: Any,
        step: policies.Step,
        *,
        summary: str,
        counts_as_retry: bool = True,
        local: bool = False,
    ) -> Any:
        return await super()._step(  # type: ignore[misc]
            activity, arg, step, summary=summary, counts_as_retry=counts_as_retry, local=False
        )


class EarlyFirstPoll:
    """The first poll after 1 s even when a webhook will come (committed before session 3)."""

    @staticmethod
    def _first_poll(*, webhook: bool) -> timedelta:
        return policies.POLL_INITIAL


class RetriedCheck:
    """Waiting as one activity that fails while the prediction runs and is retried by Temporal."""

    async def _wait(self, prediction: Prediction, *, webhook: bool) -> Prediction:
        if prediction.status.terminal:
            return prediction
        result: PredictionResult = await workflow.execute_activity(
            CHECK_PREDICTION,
            prediction.id,
            result_type=PredictionResult,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=policies.PREDICTION_DEADLINE,
            retry_policy=CHECK_RETRY,
            summary="await prediction",
        )
        return result.prediction


class HeartbeatLoop:
    """Waiting as one long activity that polls the provider itself and heartbeats."""

    async def _wait(self, prediction: Prediction, *, webhook: bool) -> Prediction:
        if prediction.status.terminal:
            return prediction
        result: PredictionResult = await workflow.execute_activity(
            WAIT_HEARTBEATING,
            prediction.id,
            result_type=PredictionResult,
            start_to_close_timeout=policies.PREDICTION_DEADLINE,
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=policies.GET_PREDICTION.retry,
            summary="await prediction (heartbeating)",
        )
        return result.prediction


@workflow.defn(name=WORKFLOW_NAME)
class RegularStepsWorkflow(RegularSteps, GenerateMediaWorkflow):
    """The mirror and the metadata as activities."""

    @workflow.run
    async def run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        return await super().run(job)


@workflow.defn(name=WORKFLOW_NAME)
class EarlyFirstPollWorkflow(EarlyFirstPoll, GenerateMediaWorkflow):
    """The first poll after 1 s, webhook or not."""

    @workflow.run
    async def run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        return await super().run(job)


@workflow.defn(name=WORKFLOW_NAME)
class RetriedCheckWorkflow(RetriedCheck, GenerateMediaWorkflow):
    """Waiting as a retried check."""

    @workflow.run
    async def run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        return await super().run(job)


@workflow.defn(name=WORKFLOW_NAME)
class HeartbeatLoopWorkflow(HeartbeatLoop, GenerateMediaWorkflow):
    """Waiting as a heartbeating activity."""

    @workflow.run
    async def run(self, job: GenerateMediaInput) -> GenerateMediaResult:
        return await super().run(job)


WORKFLOWS: dict[str, type] = {
    "regular-steps": RegularStepsWorkflow,
    "early-poll": EarlyFirstPollWorkflow,
    "retried-check": RetriedCheckWorkflow,
    "heartbeat-loop": HeartbeatLoopWorkflow,
}
