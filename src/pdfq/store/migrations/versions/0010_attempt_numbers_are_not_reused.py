"""attempt numbers are not reused: a retried job keeps counting

A job's files are written under its attempt number, and a run that loses its job deletes
that number's files. ``retry`` used to start the count again from zero, so a run of the
retried job could share its number with an earlier run still stopping (canceled, then retried
at once), and the one that lost deleted the files of the one that won. The count now goes on;
``attempts_before_retry`` keeps where the fresh attempt budget starts.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempts_before_retry", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("attempts_before_retry")
