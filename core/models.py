"""The tables: `jobs` (the mirror of every job's status that the API reads), `api_keys`
(who may ask) and `owner_quotas` (each owner's submit-rate bucket)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from core.jobs import GenerateMediaInput, JobKind, JobStatus, OutputLimits


def utcnow() -> datetime:
    return datetime.now(UTC)


def _tz_column(*, nullable: bool = True) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


def _empty_object() -> dict[str, Any]:
    """A fresh `{}` for a JSON column. Not `dict` itself: pydantic reads a default factory's
    signature on every instance, and a builtin's is parsed from its text (~0.1 ms each)."""
    return {}


def _empty_list() -> list[Any]:
    """A fresh `[]` for a JSON or an array column (see `_empty_object`)."""
    return []


class Job(SQLModel, table=True):
    """One job (a generation, or an uploaded image to process); the Temporal workflow that
    runs it has the same id. A `process` job has no prompt nor model: both are ""."""

    __tablename__ = "jobs"
    __table_args__ = (
        # GET /api/v1/jobs: newest first, optionally filtered by status or model.
        sa.Index("ix_jobs_created_at_id", sa.text("created_at DESC"), sa.text("id DESC")),
        sa.Index(
            "ix_jobs_status_created_at", "status", sa.text("created_at DESC"), sa.text("id DESC")
        ),
        sa.Index(
            "ix_jobs_model_name_created_at",
            "model_name",
            sa.text("created_at DESC"),
            sa.text("id DESC"),
        ),
        sa.Index("ix_jobs_kind_created_at", "kind", sa.text("created_at DESC"), sa.text("id DESC")),
        # An owner's list, and the count of its active jobs that the submit quota reads.
        sa.Index(
            "ix_jobs_owner_created_at", "owner", sa.text("created_at DESC"), sa.text("id DESC")
        ),
        sa.Index("ix_jobs_owner_status", "owner", "status"),
        # An Idempotency-Key is the owner's own: another owner may use the same string.
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(default=JobStatus.PENDING.value, max_length=16, nullable=False)
    kind: str = Field(
        default=JobKind.GENERATE.value,
        max_length=16,
        nullable=False,
        sa_column_kwargs={"server_default": JobKind.GENERATE.value},
    )
    prompt: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    model_name: str = Field(max_length=200, nullable=False)
    parameters: dict[str, Any] = Field(
        default_factory=_empty_object, sa_column=sa.Column(JSONB, nullable=False)
    )
    webhook_url: str | None = Field(default=None, max_length=2048)
    owner: str | None = Field(default=None, max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)
    progress: float = Field(default=0.0, nullable=False)
    result_url: str | None = Field(default=None, max_length=2048)
    outputs: list[dict[str, Any]] = Field(
        default_factory=_empty_list, sa_column=sa.Column(JSONB, nullable=False)
    )
    # Variants of the job's images and those that could not be made (JSON lists, as outputs).
    variants: list[dict[str, Any]] = Field(
        default_factory=_empty_list,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    variant_failures: list[dict[str, Any]] = Field(
        default_factory=_empty_list,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    file_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    error: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    retry_count: int = Field(default=0, nullable=False)
    external_job_id: str | None = Field(default=None, max_length=128)
    # Predictions whose `start` webhook came while the job was creating its own (migration
    # 0008): the workflow reads them when it records its own, and stops the others.
    starts_heard: list[str] = Field(
        default_factory=_empty_list,
        sa_column=sa.Column(ARRAY(sa.String(128)), nullable=False, server_default=sa.text("'{}'")),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_tz_column())
    completed_at: datetime | None = Field(default=None, sa_column=_tz_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
    # Bumped by every write of the row's status (or anything a status mirror carries) and by
    # every progress increase: the id of the events stream is derived from it (api/job_events.py).
    event_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"}, nullable=False)


def job_input(job: Job, limits: OutputLimits | None = None) -> GenerateMediaInput:
    """A job row as its workflow's input (held to `limits`, else the defaults): what the
    workflow starts with, and what a `JobUpdate` written outside the workflow carries."""
    return GenerateMediaInput(
        job_id=str(job.id),
        prompt=job.prompt,
        model_name=job.model_name,
        parameters=job.parameters,
        webhook_url=job.webhook_url,
        created_at=job.created_at,
        idempotency_key=job.idempotency_key,
        request_hash=job.request_hash,
        limits=limits or OutputLimits(),
        owner=job.owner,
        kind=JobKind(job.kind),
    )


class ApiKey(SQLModel, table=True):
    """A key `mg_<id>_<secret>`: the id is public, the secret is stored only as its SHA-256.

    The secret is 192 random bits, so a plain hash is as strong as a peppered one and needs
    no secret of its own on the server.
    """

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100, nullable=False)
    owner: str = Field(max_length=100, nullable=False, index=True)
    is_admin: bool = Field(default=False, nullable=False)
    secret_sha256: str = Field(max_length=64, nullable=False)
    # Per-key overrides of SUBMIT_RATE_LIMIT_PER_MINUTE and MAX_ACTIVE_JOBS_PER_OWNER.
    rate_limit_per_minute: int | None = Field(default=None)
    max_active_jobs: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=_tz_column())
    revoked_at: datetime | None = Field(default=None, sa_column=_tz_column())


class OwnerQuota(SQLModel, table=True):
    """An owner's submit-rate token bucket; its row lock serialises the owner's admissions."""

    __tablename__ = "owner_quotas"

    owner: str = Field(primary_key=True, max_length=100)
    tokens: float = Field(nullable=False)
    refilled_at: datetime = Field(sa_column=_tz_column(nullable=False))


class QuotaReservation(SQLModel, table=True):
    """An active-job slot taken by a submit that has not committed its job yet.

    Deleted in the transaction that commits the job, so a slot is counted once throughout;
    one whose submit died expires instead.
    """

    __tablename__ = "quota_reservations"

    job_id: uuid.UUID = Field(primary_key=True)
    owner: str = Field(max_length=100, nullable=False, index=True)
    expires_at: datetime = Field(sa_column=_tz_column(nullable=False))


class WorkflowStart(SQLModel, table=True):
    """A job whose workflow is still to be started (the outbox of api/starter.py).

    Inserted in the submit's own transaction, deleted once the workflow has started; a start
    that failed is tried again from `due_at`, with backoff.
    """

    __tablename__ = "workflow_starts"
    __table_args__ = (sa.Index("ix_workflow_starts_due_at", "due_at"),)

    job_id: uuid.UUID = Field(primary_key=True, foreign_key="jobs.id", ondelete="CASCADE")
    due_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, max_length=500)
    # Canceled after a start was tried: that start may have happened, so the starter
    # cancels the workflow, if there is one, instead of starting it.
    canceled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class WebhookSecret(SQLModel, table=True):
    """The secret that signs the calls to an owner's `webhook_url`s (`whsec_…`)."""

    __tablename__ = "webhook_secrets"

    owner: str = Field(primary_key=True, max_length=100)
    secret: str = Field(max_length=100, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))


class ProviderWebhookDelivery(SQLModel, table=True):
    """A provider webhook already relayed, by its `webhook-id` (a prediction's end: `end:<id>`,
    whichever event carried it): a repeat is acknowledged only."""

    __tablename__ = "provider_webhook_deliveries"

    webhook_id: str = Field(primary_key=True, max_length=255)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
