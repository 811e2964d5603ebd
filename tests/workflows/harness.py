"""Stub activities under JobActivities' names, and a run of one job against them.

Time-skipping is the point of these tests, so the provider, bucket and database are
stubs: each answer is scripted and each call is recorded with its time in workflow time.
Tests compare calls with the job's own timer events, never with absolute times: the shared
server's clock also leaps between tests (once a workflow closes it skips past timers left
behind, up to the test server's default 10-year run timeout).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.image_jobs import ImageProbe, ImageSource, ProcessMetadataInput, VariantRequest
from core.jobs import (
    CreatePredictionInput,
    CreatePredictionResult,
    GenerateMediaInput,
    GenerateMediaResult,
    JobKind,
    JobStatus,
    JobUpdate,
    MetadataInput,
    MirrorResult,
    Prediction,
    PredictionResult,
    PredictionStatus,
    StepResult,
    StoredOutput,
    StoreOutputInput,
    Variant,
)
from worker.main import WORKFLOW_RUNNER
from workflows.generation import GenerateMediaWorkflow
from workflows.processing import ProcessImageWorkflow


def prediction(
    number: int,
    status: PredictionStatus,
    *,
    error: str | None = None,
    user_error: bool = False,
    outputs: int = 1,
) -> Prediction:
    """Prediction `p{number}`; a succeeded one has `outputs` outputs."""
    output = [f"https://provider.test/p{number}/out-{index}.png" for index in range(outputs)]
    return Prediction(
        id=f"p{number}",
        status=status,
        output=output if status is PredictionStatus.SUCCEEDED else [],
        error=error,
        user_error=user_error,
    )


@dataclass(frozen=True)
class Timer:
    """One timer of a job's history: how long it was set for, when it started and fired."""

    length: timedelta
    started_at: datetime
    fired_at: datetime


async def timers_of(env: WorkflowEnvironment, job_id: str) -> list[Timer]:
    """The job's fired timers, read from its history (the server's, skipped, clock)."""
    started: dict[int, tuple[timedelta, datetime]] = {}
    fired: list[Timer] = []
    async for event in env.client.get_workflow_handle(job_id).fetch_history_events():
        if event.HasField("timer_started_event_attributes"):
            length = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            started[event.event_id] = (length, event.event_time.ToDatetime(UTC))
        elif event.HasField("timer_fired_event_attributes"):
            length, started_at = started[event.timer_fired_event_attributes.started_event_id]
            fired.append(Timer(length, started_at, event.event_time.ToDatetime(UTC)))
    return fired


def assert_waits(
    timers: Sequence[Timer], calls: Sequence[datetime], seconds: Sequence[float]
) -> None:
    """The timers were set for `seconds`, and each call came after its timer fired.

    Compared with the history's own events, never with real-time slack: under load the
    test server's clock runs on (in real time) while an activity or workflow task is in
    flight, so gaps between calls are the timers' lengths plus however busy the machine is.
    """
    assert [timer.length for timer in timers] == [timedelta(seconds=s) for s in seconds]
    assert len(calls) == len(timers), (calls, timers)
    ends = [timer.started_at for timer in timers[1:]] + [datetime.max.replace(tzinfo=UTC)]
    for call, timer, next_start in zip(calls, timers, ends, strict=True):
        assert timer.fired_at <= call <= next_start, (call, timer)


@dataclass(frozen=True)
class Create:
    """One create of a prediction: when it was scheduled, and for which run of the job."""

    at: datetime
    job_attempt: int | None


@dataclass
class FakeProvider:
    """Scripted answers for the creates and the polls, and every call recorded.

    `created[i]` answers the i-th create; `polled[i]` the i-th poll, the last one repeating.
    Activity times are `current_attempt_scheduled_time` (the server's, skipped, clock);
    status updates carry their own `at` (workflow.now()): a local activity's info holds
    the worker's real clock.
    """

    created: list[Prediction]
    polled: list[Prediction] = field(default_factory=list)
    webhook: bool = False
    creates: list[Create] = field(default_factory=list)
    polls: list[datetime] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    updates: list[JobUpdate] = field(default_factory=list)
    too_large: set[int] = field(default_factory=set)  # indexes of outputs over the byte limit
    broken_presets: set[str] = field(default_factory=set)  # variants that fail (InvalidImage)
    variants: list[VariantRequest] = field(default_factory=list)
    variant_gate: asyncio.Event | None = None  # set: each variant waits for it
    variant_began: asyncio.Event = field(default_factory=asyncio.Event)
    stored: list[StoreOutputInput] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # What every mirror returns (the row keeps them for good): the starts of predictions
    # other than the job's own that the row kept while the job was creating.
    starts_heard: list[str] = field(default_factory=list)
    metadata: list[MetadataInput] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)  # the job ids whose webhook was told

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.start_prediction,
            self.create_prediction,
            self.get_prediction,
            self.cancel_prediction,
            self.store_output,
            self.delete_outputs,
            self.write_metadata,
            self.mirror_status,
            self.notify_webhook,
            self.probe_image,
            self.make_variant,
            self.write_process_metadata,
        ]

    def job_id(self) -> str:
        """The id of the job these calls were for (its first status update names it)."""
        return self.updates[0].job.job_id

    def statuses(self) -> list[JobStatus]:
        return [update.status for update in self.updates]

    def _create(self, job_attempt: int | None) -> CreatePredictionResult:
        self.creates.append(Create(activity.info().current_attempt_scheduled_time, job_attempt))
        answer = self.created[len(self.creates) - 1]
        return CreatePredictionResult(prediction=answer, webhook=self.webhook)

    @activity.defn(name="start_prediction")
    async def start_prediction(self, request: CreatePredictionInput) -> CreatePredictionResult:
        return self._create(request.job_attempt)

    @activity.defn(name="create_prediction")
    async def create_prediction(self, job: GenerateMediaInput) -> CreatePredictionResult:
        return self._create(None)

    @activity.defn(name="get_prediction")
    async def get_prediction(self, prediction_id: str) -> PredictionResult:
        self.polls.append(activity.info().current_attempt_scheduled_time)
        answer = self.polled[min(len(self.polls), len(self.polled)) - 1]
        assert answer.id == prediction_id
        return PredictionResult(prediction=answer)

    @activity.defn(name="cancel_prediction")
    async def cancel_prediction(self, prediction_id: str) -> StepResult:
        self.cancels.append(prediction_id)
        return StepResult()

    @activity.defn(name="store_output")
    async def store_output(self, request: StoreOutputInput) -> StoredOutput:
        self.stored.append(request)
        if request.index in self.too_large:
            raise ApplicationError("too large", 1, type="OutputTooLarge", non_retryable=True)
        key = f"media/{request.job_id}/{request.index}.png"
        return StoredOutput(
            key=key,
            url=f"https://media.test/{key}",
            content_type="image/png",
            file_size=3,
            sha256="0" * 64,
        )

    @activity.defn(name="delete_outputs")
    async def delete_outputs(self, keys: list[str]) -> StepResult:
        self.deleted.extend(keys)
        return StepResult()

    @activity.defn(name="write_metadata")
    async def write_metadata(self, request: MetadataInput) -> StepResult:
        self.metadata.append(request)
        return StepResult()

    @activity.defn(name="mirror_status")
    async def mirror_status(self, update: JobUpdate) -> MirrorResult:
        self.updates.append(update)
        return MirrorResult(starts_heard=self.starts_heard)

    @activity.defn(name="notify_webhook")
    async def notify_webhook(self, job: GenerateMediaInput) -> StepResult:
        self.notified.append(job.job_id)
        return StepResult()

    @activity.defn(name="probe_image")
    async def probe_image(self, source: ImageSource) -> ImageProbe:
        return ImageProbe(content_type="image/png", width=640, height=480)

    @activity.defn(name="make_variant")
    async def make_variant(self, request: VariantRequest) -> Variant:
        self.variants.append(request)
        self.variant_began.set()
        if self.variant_gate is not None:
            await self.variant_gate.wait()
        if request.preset in self.broken_presets:
            raise ApplicationError("unreadable", 1, type="InvalidImage", non_retryable=True)
        key = f"variants/{request.job_id}/{request.preset}-{request.source.output}.webp"
        return Variant(
            name=request.preset,
            output=request.source.output,
            key=key,
            url=f"https://media.test/{key}",
            content_type="image/webp",
            width=256,
            height=256,
            file_size=3,
            sha256="0" * 64,
        )

    @activity.defn(name="write_process_metadata")
    async def write_process_metadata(self, request: ProcessMetadataInput) -> StepResult:
        return StepResult()


@asynccontextmanager
async def running_worker(env: WorkflowEnvironment, provider: FakeProvider) -> AsyncIterator[str]:
    """A worker (the product's runner, both job workflows) on a fresh task queue: its name."""
    task_queue = f"time-skipping-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[GenerateMediaWorkflow, ProcessImageWorkflow],
        activities=provider.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        yield task_queue


def job_input(kind: JobKind = JobKind.GENERATE) -> GenerateMediaInput:
    """A new job's input (an upload's has no prompt)."""
    generate = kind is JobKind.GENERATE
    return GenerateMediaInput(
        job_id=str(uuid.uuid4()),
        prompt="a lighthouse at dawn" if generate else "",
        model_name="black-forest-labs/flux-schnell" if generate else "",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        kind=kind,
    )


@asynccontextmanager
async def started_job(
    env: WorkflowEnvironment, provider: FakeProvider
) -> AsyncIterator[WorkflowHandle[Any, GenerateMediaResult]]:
    """One generate job started, its worker running."""
    job = job_input()
    async with running_worker(env, provider) as task_queue:
        yield await env.client.start_workflow(
            GenerateMediaWorkflow.run, job, id=job.job_id, task_queue=task_queue
        )


async def run_job(env: WorkflowEnvironment, provider: FakeProvider) -> GenerateMediaResult:
    """Run one job to its end."""
    async with started_job(env, provider) as handle:
        return await handle.result()
