"""audit trail by tenant, retention, and trace context

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdfq.store.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = pdfq.store.tables.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_events_tenant_id"), ["tenant", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_at"), ["at"], unique=False)
    # Events of jobs that still exist get their tenant; those of deleted jobs keep none.
    op.execute(
        "UPDATE events SET tenant = (SELECT jobs.tenant FROM jobs WHERE jobs.id = events.job_id)"
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_removed_at", UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expired_at", UTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trace_context", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_jobs_status_finished_at"), ["status", "finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status_finished_at"))
        batch_op.drop_column("trace_context")
        batch_op.drop_column("expired_at")
        batch_op.drop_column("input_removed_at")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_at"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id"))
        batch_op.drop_column("tenant")
