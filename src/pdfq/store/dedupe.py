"""Deduplicated jobs: a file the tenant already had read, with the same options, is answered
from the earlier result instead of being read again.

The new job is an ordinary job that is born ``succeeded``: the caller copies the earlier
attempt's result files under the new job (:func:`pdfq.results.copy_result`) first, then
:func:`create_reused` inserts the job with the earlier page index and result index, so every
result route, deletion and retention rule treats it like any other job, and deleting the
earlier job takes nothing from it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import bindparam, insert, select

from pdfq.domain import JobStatus, Options
from pdfq.store.db import Database
from pdfq.store.events import insert_events
from pdfq.store.jobs import (
    JobRecord,
    NewJob,
    _page_rows,
    ended,
    insert_once,
    list_pages,
    utcnow,
)
from pdfq.store.tables import jobs, pages

CANDIDATES = 20  # earlier jobs of the same file looked at (newest first)
REUSED_ATTEMPT = 1


# Built once: a statement costs more to build than to run (every upload asks).
_EARLIER = (
    select(jobs)
    .where(
        jobs.c.tenant == bindparam("owner"),
        jobs.c.sha256 == bindparam("digest"),
        jobs.c.status == JobStatus.SUCCEEDED.value,
        jobs.c.expired_at.is_(None),
    )
    .order_by(jobs.c.id.desc())
    .limit(CANDIDATES)
)


def find_reusable(db: Database, *, tenant: str, sha256: str, options: Options) -> JobRecord | None:
    """The newest succeeded job of ``tenant`` that read this file with options giving the same
    result, or ``None``."""
    with db.read() as conn:
        rows = conn.execute(_EARLIER, {"owner": tenant, "digest": sha256}).all()
    for row in rows:
        record = JobRecord.from_row(row)
        if record.options.result_shape == options.result_shape and record.result_index:
            return record
    return None


def create_reused(
    db: Database, *, new: NewJob, source: JobRecord, now: datetime | None = None
) -> tuple[JobRecord, bool]:
    """Insert ``new`` as a job that already succeeded with ``source``'s result, whose files
    the caller has copied under ``new`` as attempt :data:`REUSED_ATTEMPT`. Returns
    ``(record, created)`` as :func:`~pdfq.store.jobs.create_job` does."""
    now = now or utcnow()
    page_index = [
        dataclasses.replace(p, attempt=REUSED_ATTEMPT) for p in list_pages(db, job_id=source.id)
    ]
    record = dataclasses.replace(
        new.record(now),
        status=JobStatus.SUCCEEDED,
        secret=None,
        attempts=0,
        pages_total=source.pages_total,
        pages_done=source.pages_done,
        result_attempt=REUSED_ATTEMPT,
        result_index=source.result_index,
        findings=source.findings,
        dedupe_of=source.id,
        started_at=now,
        finished_at=now,
    )
    drafts = [
        *new.arrival_events(),
        ("succeeded", {"dedupe_of": source.id, "pages": source.pages_done}),
    ]

    def insert_reused() -> JobRecord:
        with db.write() as conn:
            conn.execute(insert(jobs).values(record.to_row()))
            if page_index:
                conn.execute(insert(pages), _page_rows(new.id, page_index, now))
            insert_events(conn, new.id, drafts, now, tenant=new.tenant)
            ended(conn, record, now)
        return record

    return insert_once(db, new, insert_reused)
