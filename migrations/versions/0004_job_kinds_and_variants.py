"""Job kinds (generate, process) and the variants made of a job's images.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults: every job before this revision generated media and has no variants.
    op.add_column(
        "jobs",
        sa.Column(
            "kind", AutoString(length=16), nullable=False, server_default=sa.text("'generate'")
        ),
    )
    op.add_column(
        "jobs",
        sa.Column("variants", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.add_column(
        "jobs",
        sa.Column(
            "variant_failures", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
    )
    op.create_index(
        "ix_jobs_kind_created_at",
        "jobs",
        ["kind", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_kind_created_at", table_name="jobs")
    op.drop_column("jobs", "variant_failures")
    op.drop_column("jobs", "variants")
    op.drop_column("jobs", "kind")
