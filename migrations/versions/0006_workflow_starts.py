"""The workflow-start outbox: a job's row and its start are committed together.

A submit inserts the job and a `workflow_starts` row in one transaction; the API's starters
(api/starter.py) start the workflow and delete the row. A row here is a job whose workflow
may not exist yet; `canceled`, one whose start was tried (and may have happened) before the
job was canceled: its workflow, if any, is to be cancelled.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_starts",
        sa.Column(
            "job_id",
            sa.Uuid(),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("canceled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_workflow_starts_due_at", "workflow_starts", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_workflow_starts_due_at", table_name="workflow_starts")
    op.drop_table("workflow_starts")
