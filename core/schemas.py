"""The job document: what `GET /api/v1/status/{id}` answers and user webhooks receive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.jobs import JobError, JobKind, JobStatus, VariantFailure
from core.media_urls import MediaSigner
from core.models import Job

JOB_EXAMPLE: dict[str, Any] = {
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "kind": "generate",
    "status": "completed",
    "prompt": "a lighthouse at dawn",
    "model_name": "black-forest-labs/flux-schnell",
    "parameters": {"width": 512, "height": 512, "output_format": "png"},
    "progress": 1.0,
    "result_url": "http://localhost:8000/api/v1/download/123e4567-e89b-12d3-a456-426614174000",
    "outputs": [
        {
            "url": "http://localhost:8000/media/123e4567-e89b-12d3-a456-426614174000.png"
            "?exp=1795435202&sig=Jx0u0S3rYvPUMbjMF7oqRkWJ1FtXv1x5WwW6oQe9r9s",
            "content_type": "image/png",
            "file_size": 24576,
            "sha256": "9f2c…",
        }
    ],
    "variants": [
        {
            "name": "thumbnail",
            "output": 0,
            "url": "http://localhost:8000/media/variants/123e4567-e89b-12d3-a456-426614174000"
            "/thumbnail.webp?exp=1795435202&sig=8sWbQ0pX0n8m3xC0cFQ9vYvYH2eE2vR9nJd3x8Z8m1A",
            "content_type": "image/webp",
            "width": 256,
            "height": 256,
            "file_size": 10422,
            "sha256": "4b1e…",
        }
    ],
    "variant_failures": [],
    "file_size": 24576,
    "error": None,
    "retry_count": 0,
    "external_job_id": "q8d2xk3v1hrma0cmv3wbg2kq4c",
    "created_at": "2026-11-23T10:00:00Z",
    "started_at": "2026-11-23T10:00:00.2Z",
    "completed_at": "2026-11-23T10:00:02Z",
    "updated_at": "2026-11-23T10:00:02Z",
}


class OutputPublic(BaseModel):
    url: str
    content_type: str
    file_size: int
    sha256: str


class VariantPublic(BaseModel):
    """A variant of one of the job's images (`output`: its index; 0 for an upload)."""

    name: str
    output: int
    url: str
    content_type: str
    width: int
    height: int
    file_size: int
    sha256: str


class JobPublic(BaseModel):
    """A job as clients see it (API.md's job document)."""

    model_config = ConfigDict(json_schema_extra={"example": JOB_EXAMPLE})

    id: uuid.UUID
    kind: JobKind
    status: JobStatus
    prompt: str = Field(description='The prompt; "" for a `process` job (an upload)')
    model_name: str = Field(description='The model; "" for a `process` job (an upload)')
    parameters: dict[str, Any]
    webhook_url: str | None = None
    progress: float
    result_url: str | None
    outputs: list[OutputPublic] = Field(default_factory=list)
    variants: list[VariantPublic] = Field(default_factory=list)
    variant_failures: list[VariantFailure] = Field(default_factory=list)
    file_size: int | None
    error: JobError | None
    retry_count: int
    external_job_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


def job_document(job: Job, signer: MediaSigner) -> JobPublic:
    """The public document of a job row: progress 1.0 once it is completed, and each
    output's and variant's `url` signed afresh (their rows hold their object `key`)."""
    progress = 1.0 if job.status == JobStatus.COMPLETED else job.progress
    return JobPublic.model_validate(
        {
            **job.model_dump(),
            "progress": progress,
            "outputs": signer.signed_outputs(job.outputs),
            "variants": signer.signed_outputs(job.variants),
        }
    )
