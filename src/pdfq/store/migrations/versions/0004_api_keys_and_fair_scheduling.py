"""API keys, and fair scheduling across tenants

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pdfq.store.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = pdfq.store.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("last_used_at", UTC(timezone=True), nullable=True),
        sa.Column("revoked_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant"), ["tenant"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fair_rank", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_index("ix_jobs_claim")
        batch_op.create_index(
            "ix_jobs_claim",
            ["status", sa.text("priority DESC"), "fair_rank", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_jobs_status_fair_rank"), ["status", "fair_rank"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_jobs_tenant_status_fair_rank"),
            ["tenant", "status", "fair_rank"],
            unique=False,
        )

    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tenant", sa.String(length=64), server_default="default", nullable=False)
        )
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("fair_rank", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_chunks_status_fair_rank"), ["status", "fair_rank"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_chunks_tenant_status_fair_rank"),
            ["tenant", "status", "fair_rank"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunks_tenant_status_fair_rank"))
        batch_op.drop_index(batch_op.f("ix_chunks_status_fair_rank"))
        batch_op.drop_column("fair_rank")
        batch_op.drop_column("priority")
        batch_op.drop_column("tenant")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_tenant_status_fair_rank"))
        batch_op.drop_index(batch_op.f("ix_jobs_status_fair_rank"))
        batch_op.drop_index("ix_jobs_claim")
        batch_op.create_index(
            "ix_jobs_claim", ["status", sa.text("priority DESC"), "id"], unique=False
        )
        batch_op.drop_column("fair_rank")

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant"))
    op.drop_table("api_keys")
