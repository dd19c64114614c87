"""fan-out chunks and retry back-off

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdfq.store.tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chunks",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("first_page", sa.Integer(), nullable=False),
        sa.Column("last_page", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", pdfq.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", pdfq.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_chunks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "number", name=op.f("pk_chunks")),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chunks_status_job_id_number"),
            ["status", "job_id", "number"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_chunks_status_lease_expires_at"),
            ["status", "lease_expires_at"],
            unique=False,
        )

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_index", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("run_after", pdfq.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("chunks_total", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("chunks_done", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("chunks_done")
        batch_op.drop_column("chunks_total")
        batch_op.drop_column("run_after")
        batch_op.drop_column("result_index")

    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunks_status_lease_expires_at"))
        batch_op.drop_index(batch_op.f("ix_chunks_status_job_id_number"))

    op.drop_table("chunks")
