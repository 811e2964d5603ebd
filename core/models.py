"""The `jobs` table: the mirror of every job's status that the API reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from core.jobs import JobStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def _tz_column(*, nullable: bool = True) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Job(SQLModel, table=True):
    """One generation job; the Temporal workflow that runs it has the same id."""

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
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(default=JobStatus.PENDING.value, max_length=16, nullable=False)
    prompt: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    model_name: str = Field(max_length=200, nullable=False)
    parameters: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
    webhook_url: str | None = Field(default=None, max_length=2048)
    idempotency_key: str | None = Field(default=None, max_length=255, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)
    progress: float = Field(default=0.0, nullable=False)
    result_url: str | None = Field(default=None, max_length=2048)
    outputs: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    file_size: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    error: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    retry_count: int = Field(default=0, nullable=False)
    external_job_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_tz_column())
    completed_at: datetime | None = Field(default=None, sa_column=_tz_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False))
