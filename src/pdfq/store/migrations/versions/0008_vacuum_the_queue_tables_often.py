"""vacuum and analyze the queue tables often (PostgreSQL)

Every job's row is written three times (created, claimed, finished), and each of those
updates changes an indexed column, so it leaves a dead row version and an entry in every index
of ``jobs`` behind. Until vacuum removes them, the queue's own queries (the next job to claim,
a tenant's highest queued rank, a finish's compare-and-set) walk them, and until a table is
analyzed the planner knows nothing about it: on a fresh database it picked an index on
``tenant`` for a status read by id and kept that plan (psycopg prepares repeated statements),
so each read walked every job of the tenant. Measured on this project's benchmark machine
(PostgreSQL 15 with autovacuum off, 3,000 one-page jobs from 32 clients): 3,343 buffer reads of
``jobs`` per job without vacuum; with ``VACUUM ANALYZE`` of ``jobs`` and ``chunks`` every 5 s,
PostgreSQL's CPU per job fell from 4.0-5.3 to 2.7-3.1 ms (docs/benchmarks.md).

PostgreSQL's defaults vacuum a table once a fifth of its rows are dead and analyze it once a
tenth changed: for a table of a million finished jobs, 200,000 dead versions in between. These
per-table settings make autovacuum visit ``jobs`` and ``chunks`` after about 1 % of their rows
(at least 1,000 row versions) changed. They only take effect where autovacuum runs (the
default); ``pdfq serve`` and ``pdfq worker`` warn on start where it does not. SQLite updates
rows in place and needs none of this; this revision does nothing there.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("jobs", "chunks")
SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.01",
    "autovacuum_analyze_threshold": "1000",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    options = ", ".join(f"{name} = {value}" for name, value in SETTINGS.items())
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET ({options})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(SETTINGS)})")
