"""Create the jobs table and the indexes that serve GET /api/v1/jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int) -> AutoString:
    return AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("model_name", _text(200), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("webhook_url", _text(2048), nullable=True),
        sa.Column("idempotency_key", _text(255), nullable=True),
        sa.Column("request_hash", _text(64), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("result_url", _text(2048), nullable=True),
        sa.Column("outputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("external_job_id", _text(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    # The unfiltered list: ORDER BY created_at DESC, id DESC LIMIT n reads this index in order.
    op.create_index(
        "ix_jobs_created_at_id",
        "jobs",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )
    # ?status=…: the equality prefix then the same order (id included, so no sort is
    # needed), so a filtered page is one index range read in order.
    op.create_index(
        "ix_jobs_status_created_at",
        "jobs",
        ["status", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )
    # ?model_name=…: likewise.
    op.create_index(
        "ix_jobs_model_name_created_at",
        "jobs",
        ["model_name", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_model_name_created_at", table_name="jobs")
    op.drop_index("ix_jobs_status_created_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at_id", table_name="jobs")
    op.drop_table("jobs")
