"""API keys, job owners and per-owner quotas.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", AutoString(length=32), nullable=False),
        sa.Column("name", AutoString(length=100), nullable=False),
        sa.Column("owner", AutoString(length=100), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("secret_sha256", AutoString(length=64), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("max_active_jobs", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_keys_owner", "api_keys", ["owner"])
    op.create_table(
        "owner_quotas",
        sa.Column("owner", AutoString(length=100), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    op.create_table(
        "quota_reservations",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("owner", AutoString(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    op.create_index("ix_quota_reservations_owner", "quota_reservations", ["owner"])
    # Jobs from before keys keep no owner: only admin keys see them.
    op.add_column("jobs", sa.Column("owner", AutoString(length=100), nullable=True))
    op.drop_constraint("jobs_idempotency_key_key", "jobs", type_="unique")
    op.create_unique_constraint(
        "uq_jobs_owner_idempotency_key", "jobs", ["owner", "idempotency_key"]
    )
    op.create_index(
        "ix_jobs_owner_created_at",
        "jobs",
        ["owner", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )
    op.create_index("ix_jobs_owner_status", "jobs", ["owner", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_status", table_name="jobs")
    op.drop_index("ix_jobs_owner_created_at", table_name="jobs")
    op.drop_constraint("uq_jobs_owner_idempotency_key", "jobs", type_="unique")
    op.create_unique_constraint("jobs_idempotency_key_key", "jobs", ["idempotency_key"])
    op.drop_column("jobs", "owner")
    op.drop_index("ix_quota_reservations_owner", table_name="quota_reservations")
    op.drop_table("quota_reservations")
    op.drop_table("owner_quotas")
    op.drop_index("ix_api_keys_owner", table_name="api_keys")
    op.drop_table("api_keys")
