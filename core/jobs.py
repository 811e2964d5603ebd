"""The Temporal contract of a job: workflow name, inputs, results and status values.

Stdlib and pydantic only, so the API shares it without pulling in any client, and the
workflow sandbox imports it cheaply. Every model is a single pydantic object, so fields can
be added later (with defaults) without breaking histories that are still running.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

WORKFLOW_NAME = "GenerateMedia"
PROCESS_WORKFLOW_NAME = "ProcessImage"
PREDICTION_SIGNAL = "prediction_updated"


class JobStatus(StrEnum):
    """A job's status; the order is the order a job walks through them."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})


class JobKind(StrEnum):
    """What a job does: generate media from a prompt, or process an uploaded image."""

    GENERATE = "generate"
    PROCESS = "process"


class PredictionStatus(StrEnum):
    """Replicate's prediction statuses."""

    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in {self.SUCCEEDED, self.FAILED, self.CANCELED}


class JobError(BaseModel):
    """Why a job failed, as stored on the job and shown by the API."""

    type: str
    message: str
    retryable: bool


class OutputLimits(BaseModel):
    """What a job may store, fixed when it is accepted (`MAX_OUTPUTS`, `MAX_OUTPUT_BYTES`)."""

    max_outputs: int = 16
    max_output_bytes: int = 500_000_000


class GenerateMediaInput(BaseModel):
    """Everything the workflow needs; also enough to recreate the job row if it was lost."""

    job_id: str
    prompt: str
    model_name: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    created_at: datetime
    # Carried so that a row recreated by the workflow still answers an Idempotency-Key replay.
    idempotency_key: str | None = None
    request_hash: str | None = None
    limits: OutputLimits = Field(default_factory=OutputLimits)
    # The tenant whose key submitted the job (None: a job from before keys existed).
    owner: str | None = None
    # An upload's job carries its file's name and size in `parameters`, and no prompt.
    kind: JobKind = JobKind.GENERATE


class Prediction(BaseModel):
    """The part of a provider prediction the workflow acts on (kept small for histories)."""

    id: str
    status: PredictionStatus
    output: list[str] = Field(default_factory=list)
    error: str | None = None
    # The prediction failed because of the user's input (invalid input, NSFW): no rerun.
    user_error: bool = False
    progress: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


class CreatePredictionInput(BaseModel):
    """One job attempt's create: the job, which attempt of it (1 + reruns so far), and how
    long the provider may run the prediction before cancelling it itself (`Cancel-After`)."""

    job: GenerateMediaInput
    job_attempt: int
    cancel_after_seconds: int


class CreatePredictionResult(BaseModel):
    """A created prediction, whether the provider will call our webhook, and the attempt it took.

    `adopted`: an earlier try of this create reached the provider though its answer was lost;
    the prediction it started was found and taken instead of paying for another.
    """

    prediction: Prediction
    webhook: bool
    attempt: int = 1
    adopted: bool = False


class PredictionResult(BaseModel):
    """A fetched prediction and the attempt it took."""

    prediction: Prediction
    attempt: int = 1


class StoreOutputInput(BaseModel):
    job_id: str
    index: int
    url: str
    max_bytes: int | None = None


class StoredOutput(BaseModel):
    """One output file as stored in the bucket."""

    key: str
    url: str
    content_type: str
    file_size: int
    sha256: str
    attempt: int = 1


class Variant(BaseModel):
    """One variant of an image, as stored: `output` is the index of the output it was made
    from (0 for an upload's image)."""

    name: str
    output: int
    key: str
    url: str
    content_type: str
    width: int
    height: int
    file_size: int
    sha256: str
    attempt: int = 1


class VariantFailure(BaseModel):
    """A variant that could not be made; the job keeps its original output all the same."""

    name: str
    output: int
    error: JobError


class MetadataInput(BaseModel):
    job: GenerateMediaInput
    prediction: Prediction
    outputs: list[StoredOutput]
    completed_at: datetime
    # Predictions the provider ran for this job that were not its current one, cancelled.
    orphans: list[str] = Field(default_factory=list)
    # The variants made of the outputs, and those that failed (None: written before them).
    variants: list[Variant] | None = None
    variant_failures: list[VariantFailure] | None = None


class JobUpdate(BaseModel):
    """One status change mirrored into PostgreSQL; None fields are left as they are."""

    job: GenerateMediaInput
    status: JobStatus
    at: datetime
    retry_count: int
    external_job_id: str | None = None
    progress: float | None = None
    outputs: list[StoredOutput] | None = None
    error: JobError | None = None
    variants: list[Variant] | None = None
    variant_failures: list[VariantFailure] | None = None


class StepResult(BaseModel):
    """What a step with no other result returns: the attempt it took."""

    attempt: int = 1


class MirrorResult(StepResult):
    """A status mirror's result: the other predictions whose `start` webhook the row kept
    while the job was creating its own (`core.job_news.hear_start`); the job stops them."""

    starts_heard: list[str] = Field(default_factory=list)


class GenerateMediaResult(BaseModel):
    """The workflow's result for a completed job."""

    job_id: str
    status: JobStatus
    external_job_id: str
    outputs: list[StoredOutput]
    metadata_key: str
    retry_count: int
    variants: list[Variant] = Field(default_factory=list)
