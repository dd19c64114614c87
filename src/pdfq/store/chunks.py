"""Fan-out chunks: page ranges of one large job, claimed and run by workers in parallel.

A chunk's transitions are compare-and-set on ``(job, number, status, attempts)`` like a job's,
and every one of them also requires its job to be ``running``, so a canceled or failed job
stops its chunks at their next step. Chunks never change the job's status (``store/jobs.py``
does); they move its page counters and count the chunks done, and the worker that finishes
the last chunk merges the pages and finishes the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    true,
    update,
)

from pdfq.domain import JobStatus
from pdfq.store import fair
from pdfq.store import jobs as job_repo
from pdfq.store.db import Database
from pdfq.store.events import EventDraft, insert_events
from pdfq.store.jobs import Claim, JobRecord, PageRecord, _page_rows, page_notes, utcnow
from pdfq.store.tables import chunks, jobs, pages

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
_JOB_RUNNING = JobStatus.RUNNING.value


def _job_running(job_id: Any) -> Any:
    return exists().where(jobs.c.id == job_id, jobs.c.status == _JOB_RUNNING)


def fan_out(
    db: Database,
    *,
    job_id: str,
    attempt: int,
    ranges: Sequence[tuple[int, int]],
    pages_total: int,
    findings: dict[str, Any] | None,
    events: Iterable[EventDraft] = (),
    now: datetime | None = None,
) -> bool:
    """Split a running attempt into queued chunks. ``False``: the attempt lost the job.

    The job keeps its status and attempt; its own lease is dropped (each chunk has one).
    """
    now = now or utcnow()
    with db.write() as conn:
        owner = conn.execute(
            select(jobs.c.tenant, jobs.c.priority).where(jobs.c.id == job_id)
        ).first()
        if owner is None:
            return False
        result = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == _JOB_RUNNING, jobs.c.attempts == attempt)
            .values(
                chunks_total=len(ranges),
                chunks_done=0,
                pages_total=pages_total,
                findings=findings,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return False
        ranks = fair.assign(conn, [owner.tenant] * len(ranges))
        conn.execute(
            insert(chunks),
            [
                {
                    "job_id": job_id,
                    "number": number,
                    "first_page": first,
                    "last_page": last,
                    "status": QUEUED,
                    "attempts": 0,
                    "tenant": owner.tenant,
                    "priority": owner.priority,
                    "fair_rank": rank,
                    "updated_at": now,
                }
                for number, ((first, last), rank) in enumerate(zip(ranges, ranks, strict=True))
            ],
        )
        insert_events(
            conn,
            job_id,
            [*events, ("fanned_out", {"chunks": len(ranges)})],
            now,
            tenant=owner.tenant,
        )
    return True


def _claimed_chunk(conn: Connection, job_id: str, number: int, now: datetime) -> Claim:
    row = conn.execute(
        select(chunks.c.attempts, chunks.c.first_page, chunks.c.last_page).where(
            chunks.c.job_id == job_id, chunks.c.number == number
        )
    ).one()
    if row.attempts > 1:
        # An earlier attempt of this chunk may have indexed some of its pages.
        in_range = and_(
            pages.c.job_id == job_id,
            pages.c.number >= row.first_page,
            pages.c.number <= row.last_page,
        )
        removed = conn.execute(delete(pages).where(in_range)).rowcount
        if removed:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(pages_done=jobs.c.pages_done - removed)
            )
    job = JobRecord.from_row(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())
    return Claim(
        job_id=job_id,
        attempt=row.attempts,
        record=job,
        chunk=number,
        pages=(row.first_page, row.last_page),
    )


def _claim_values(owner: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    return {
        "status": RUNNING,
        "attempts": chunks.c.attempts + 1,
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "updated_at": now,
    }


def claim_chunk(
    db: Database,
    *,
    job_id: str,
    number: int,
    owner: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> Claim | None:
    """Take one queued chunk; ``None`` if it is not queued or its job stopped running."""
    now = now or utcnow()
    with db.write() as conn:
        result = conn.execute(
            update(chunks)
            .where(
                chunks.c.job_id == job_id,
                chunks.c.number == number,
                chunks.c.status == QUEUED,
                _job_running(chunks.c.job_id),
            )
            .values(_claim_values(owner, lease_seconds, now))
        )
        if result.rowcount != 1:
            return None
        return _claimed_chunk(conn, job_id, number, now)


_CHUNK_ORDER = (chunks.c.priority.desc(), chunks.c.fair_rank, chunks.c.job_id, chunks.c.number)


def _next_chunk(max_running: int) -> Any:
    if not max_running:
        return _NEXT_CHUNK
    return _next_chunk_statement(max_running)


def _next_chunk_statement(max_running: int) -> Any:
    pick = select(chunks.c.job_id, chunks.c.number, chunks.c.priority, chunks.c.fair_rank).where(
        chunks.c.status == QUEUED, _job_running(chunks.c.job_id)
    )
    if max_running:
        pick = pick.where(chunks.c.tenant.not_in(fair.busy_tenants(max_running)))
    return pick.order_by(*_CHUNK_ORDER).limit(1)


_ANY_QUEUED = select(chunks.c.job_id).where(chunks.c.status == QUEUED).limit(1)
_NEXT_CHUNK = _next_chunk_statement(0)


def next_chunk_key(db: Database, *, max_running: int = 0) -> tuple[int, int] | None:
    """``(-priority, fair rank)`` of the chunk :func:`claim_next_chunk` would take."""
    with db.read() as conn:
        if conn.execute(_ANY_QUEUED).first() is None:  # the usual case, from one index probe
            return None
        row = conn.execute(_next_chunk(max_running)).first()
    return None if row is None else (-row.priority, row.fair_rank)


def claim_next_work(
    db: Database, *, owner: str, lease_seconds: float, max_running: int = 0
) -> Claim | None:
    """Take the next unit of work, a chunk or a whole job, whichever comes first in the
    order of priority and fair rank (:mod:`pdfq.store.fair`)."""
    chunk_key = next_chunk_key(db, max_running=max_running)

    def chunk() -> Claim | None:
        return claim_next_chunk(
            db, owner=owner, lease_seconds=lease_seconds, max_running=max_running
        )

    def job() -> Claim | None:
        return job_repo.claim_next(
            db, owner=owner, lease_seconds=lease_seconds, max_running=max_running
        )

    if chunk_key is None:  # the usual case: no large document is being read
        return job() or chunk()
    job_key = job_repo.next_job_key(db, max_running=max_running)
    if job_key is None or chunk_key <= job_key:
        return chunk() or job()
    return job() or chunk()


def claim_next_chunk(
    db: Database,
    *,
    owner: str,
    lease_seconds: float,
    max_running: int = 0,
    now: datetime | None = None,
) -> Claim | None:
    """Take the next queued chunk of any running job (by priority, then fair rank)."""
    now = now or utcnow()
    pick = _next_chunk(max_running)
    if not db.is_sqlite:
        pick = pick.with_for_update(skip_locked=True, of=chunks)
    with db.write() as conn:
        candidate = conn.execute(pick).first()
        if candidate is None:
            return None
        conn.execute(
            update(chunks)
            .where(chunks.c.job_id == candidate.job_id, chunks.c.number == candidate.number)
            .values(_claim_values(owner, lease_seconds, now))
        )
        return _claimed_chunk(conn, candidate.job_id, candidate.number, now)


def _this_attempt(claim: Claim) -> Any:
    return and_(
        chunks.c.job_id == claim.job_id,
        chunks.c.number == claim.chunk,
        chunks.c.status == RUNNING,
        chunks.c.attempts == claim.attempt,
        _job_running(chunks.c.job_id),
    )


def renew_chunk_lease(
    db: Database, *, claim: Claim, owner: str, lease_seconds: float, now: datetime | None = None
) -> bool:
    """Extend the chunk's lease ``owner`` holds; ``False`` when it (or its job) is no longer
    this attempt's."""
    now = now or utcnow()
    with db.write() as conn:
        result = conn.execute(
            update(chunks)
            .where(_this_attempt(claim), chunks.c.lease_owner == owner)
            .values(
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
    return result.rowcount == 1


class _Lost(Exception):
    pass


def _add_pages(
    conn: Connection,
    claim: Claim,
    page_records: Sequence[PageRecord],
    events: Iterable[EventDraft],
    now: datetime,
) -> None:
    """Index the pages, count them on the job and record them with the events."""
    progress = None
    if page_records:
        conn.execute(insert(pages), _page_rows(claim.job_id, page_records, now))
        counted = conn.execute(
            update(jobs)
            .where(jobs.c.id == claim.job_id)
            .values(pages_done=jobs.c.pages_done + len(page_records), updated_at=now)
            .returning(jobs.c.pages_done, jobs.c.pages_total)
        ).one()
        progress = (counted.pages_done, counted.pages_total)
    notes = page_notes(page_records)
    tenant = claim.record.tenant if claim.record is not None else None
    insert_events(conn, claim.job_id, events, now, pages=notes, progress=progress, tenant=tenant)


def record_chunk_progress(
    db: Database,
    *,
    claim: Claim,
    page_records: Sequence[PageRecord] = (),
    events: Iterable[EventDraft] = (),
    now: datetime | None = None,
) -> bool:
    """Index finished pages of a running chunk. ``False``: the chunk is no longer ours."""
    now = now or utcnow()
    try:
        with db.write() as conn:
            touched = conn.execute(
                update(chunks).where(_this_attempt(claim)).values(updated_at=now)
            ).rowcount
            if touched != 1:
                raise _Lost
            _add_pages(conn, claim, page_records, events, now)
    except _Lost:
        return False
    return True


def finish_chunk(
    db: Database,
    *,
    claim: Claim,
    owner: str,
    lease_seconds: float,
    page_records: Sequence[PageRecord] = (),
    events: Iterable[EventDraft] = (),
    now: datetime | None = None,
) -> bool | None:
    """Mark the chunk done. Returns ``True`` if it was the job's last chunk (its worker then
    merges the job), ``False`` if others remain, ``None`` if the chunk was no longer ours.

    The last chunk's worker takes the job's lease for the merge, so that a merge that dies
    (its process killed, its host lost) runs out like any attempt and is swept."""
    now = now or utcnow()
    last = jobs.c.chunks_done + 1 == jobs.c.chunks_total
    try:
        with db.write() as conn:
            done = conn.execute(
                update(chunks)
                .where(_this_attempt(claim))
                .values(status=DONE, lease_owner=None, lease_expires_at=None, updated_at=now)
            ).rowcount
            if done != 1:
                raise _Lost
            _add_pages(conn, claim, page_records, events, now)
            counts = conn.execute(
                update(jobs)
                .where(jobs.c.id == claim.job_id)
                .values(
                    chunks_done=jobs.c.chunks_done + 1,
                    lease_owner=case((last, owner), else_=jobs.c.lease_owner),
                    lease_expires_at=case(
                        (last, now + timedelta(seconds=lease_seconds)),
                        else_=jobs.c.lease_expires_at,
                    ),
                )
                .returning(jobs.c.chunks_done, jobs.c.chunks_total)
            ).one()
    except _Lost:
        return None
    return bool(counts.chunks_done == counts.chunks_total)


def requeue_chunk(
    db: Database,
    *,
    claim: Claim,
    reason: str,
    max_attempts: int,
    count_attempt: bool = True,
    owner: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Give a chunk back: ``"queued"``, or ``"exhausted"`` when its attempts are used up (the
    caller then fails the job), or ``None`` when the attempt no longer owned it.
    ``count_attempt=False`` hands it back without spending an attempt (shutdown); ``owner``:
    only while that process holds its lease."""
    now = now or utcnow()
    exhausted = count_attempt and claim.attempt >= max_attempts
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    values["status"] = FAILED if exhausted else QUEUED
    if not count_attempt:
        values["attempts"] = chunks.c.attempts - 1
    with db.write() as conn:
        result = conn.execute(
            update(chunks)
            .where(
                chunks.c.job_id == claim.job_id,
                chunks.c.number == claim.chunk,
                chunks.c.status == RUNNING,
                chunks.c.attempts == claim.attempt,
                true() if owner is None else chunks.c.lease_owner == owner,
            )
            .values(values)
        )
        if result.rowcount != 1:
            return None
        if not exhausted:
            data = {"chunk": claim.chunk, "attempt": claim.attempt, "reason": reason}
            insert_events(conn, claim.job_id, [("chunk_retried", data)], now)
    return "exhausted" if exhausted else "queued"


def expired_chunk_leases(
    db: Database, *, now: datetime | None = None, limit: int = 500
) -> list[Claim]:
    now = now or utcnow()
    query = (
        select(chunks.c.job_id, chunks.c.number, chunks.c.attempts)
        .where(chunks.c.status == RUNNING, chunks.c.lease_expires_at < now)
        .limit(limit)
    )
    with db.read() as conn:
        return [
            Claim(job_id=r.job_id, attempt=r.attempts, chunk=r.number) for r in conn.execute(query)
        ]


def queued_chunks_since(db: Database, *, before: datetime, limit: int) -> list[tuple[str, int]]:
    """Queued chunks of running jobs waiting since before ``before`` (oldest first)."""
    query = (
        select(chunks.c.job_id, chunks.c.number)
        .where(
            chunks.c.status == QUEUED,
            chunks.c.updated_at < before,
            _job_running(chunks.c.job_id),
        )
        .order_by(chunks.c.updated_at)
        .limit(limit)
    )
    with db.read() as conn:
        return [(r.job_id, r.number) for r in conn.execute(query)]


def count_queued_chunks(db: Database) -> int:
    with db.read() as conn:
        query = select(func.count()).where(chunks.c.status == QUEUED)
        return int(conn.execute(query).scalar_one())
