"""`jobs.starts_heard`: predictions whose `start` webhook came before the job knew its own.

The provider's `start` webhook is how a job hears of a prediction it did not know it had
(a create whose answer was lost, then made again): relayed as a signal, it costs the
workflow a history event and a workflow task. Most starts are of the prediction the job is
creating at that moment, before the create has answered. Such a start is recorded here
instead (api/routes/webhooks.py), and every status mirror returns the list, the job's own
prediction left out: the workflow stops the others, while it waits or, if the job ended
while creating, before it closes. The webhook's write and the `processing` mirror (which
names the job's prediction) are serialised by the row's lock, so a start is either in the
list that mirror returns or comes after it and is signalled. Workers that read the list go
out before the API that writes it (README, "Upgrading").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column(
            "starts_heard",
            ARRAY(sa.String(length=128)),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
    )


def downgrade() -> None:
    op.drop_column("jobs", "starts_heard")
