"""Batches: files sent in one request. The batch row keeps its tenant and the files refused on
arrival; its jobs are ordinary jobs carrying the batch id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from pdfq.domain import JobStatus, RejectedFile
from pdfq.store import fair
from pdfq.store.db import Database
from pdfq.store.jobs import JobRecord, NewJob, create_jobs, utcnow
from pdfq.store.tables import batches, jobs


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: str
    tenant: str
    rejected: list[RejectedFile]
    created_at: datetime


def create_batch(
    db: Database,
    *,
    batch_id: str,
    tenant: str,
    new_jobs: Sequence[NewJob],
    rejected: Sequence[RejectedFile],
    now: datetime | None = None,
) -> tuple[BatchRecord, list[JobRecord]]:
    """Insert the batch and its queued jobs in one transaction."""
    now = now or utcnow()
    record = BatchRecord(batch_id, tenant, list(rejected), now)
    row: dict[str, Any] = {
        "id": batch_id,
        "tenant": tenant,
        "rejected": [r.model_dump(mode="json") for r in rejected],
        "created_at": now,
    }
    with db.read() as conn:  # fair ranks read first: SQLite's write lock stays short
        ranks = fair.assign(conn, [new.tenant for new in new_jobs])
    with db.write() as conn:
        conn.execute(insert(batches).values(row))
        created = create_jobs(conn, new_jobs, now, ranks=ranks)
    return record, created


def get_batch(db: Database, *, batch_id: str, tenant: str) -> BatchRecord | None:
    query = select(batches).where(batches.c.id == batch_id, batches.c.tenant == tenant)
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    rejected = [RejectedFile.model_validate(r) for r in row.rejected]
    return BatchRecord(row.id, row.tenant, rejected, row.created_at)


def batch_jobs(db: Database, *, batch_id: str) -> list[JobRecord]:
    """The batch's jobs in the order the files came."""
    query = select(jobs).where(jobs.c.batch_id == batch_id).order_by(jobs.c.id)
    with db.read() as conn:
        return [JobRecord.from_row(r) for r in conn.execute(query)]


def status_counts(db: Database, *, batch_id: str) -> dict[str, int]:
    query = (
        select(jobs.c.status, func.count())
        .where(jobs.c.batch_id == batch_id)
        .group_by(jobs.c.status)
    )
    counts = {status.value: 0 for status in JobStatus}
    with db.read() as conn:
        for status, count in conn.execute(query):
            counts[status] = count
    return counts
