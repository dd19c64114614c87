"""Retention: input files, results and records expire after their configured periods.

Three clocks, each counted from the job's end and each off when zero:

* **inputs** (``PDFQ_RETENTION_INPUTS_HOURS``): the uploaded file is removed; the job keeps
  its results, and only ``retry`` is refused (410);
* **results** (``PDFQ_RETENTION_RESULTS_DAYS``): every file of the job is removed, then its
  page index; the job row stays as a small tombstone with ``expired_at``, and every route that
  needs the files answers 410 Gone;
* **records** (``PDFQ_RETENTION_RECORDS_DAYS``): expired tombstones and events older than that
  are deleted (the audit trail's own retention).

Files are removed before rows, in batches. Every step is idempotent and each row change is a
compare-and-set, so cleanups running on several hosts at once only share the work. Queued
and running jobs never expire.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select, tuple_, update

from pdfq import results
from pdfq.blobs import Blobs
from pdfq.domain import TERMINAL_STATUSES
from pdfq.errors import StorageError
from pdfq.store.db import Database
from pdfq.store.jobs import JobRecord, forget_work, utcnow
from pdfq.store.tables import events, jobs, webhook_deliveries

log = structlog.get_logger(__name__)

BATCH = 200
STALE = timedelta(minutes=10)
ENDED = [status.value for status in TERMINAL_STATUSES]


@dataclass(frozen=True, slots=True)
class Retention:
    inputs: timedelta | None = None
    results: timedelta | None = None
    records: timedelta | None = None

    @property
    def active(self) -> bool:
        return any((self.inputs, self.results, self.records))


@dataclass
class CleanupReport:
    inputs: list[str] = field(default_factory=list)
    """Jobs whose input file was (or would be) removed."""
    results: list[str] = field(default_factory=list)
    """Jobs whose files were (or would be) removed, leaving a tombstone."""
    records: list[str] = field(default_factory=list)
    """Tombstones deleted."""
    events: int = 0
    """Events deleted (or that would be)."""

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.results or self.records or self.events)


def _inputs_due(db: Database, before: datetime, limit: int) -> list[JobRecord]:
    query = (
        select(jobs)
        .where(
            jobs.c.status.in_(ENDED),
            jobs.c.finished_at < before,
            jobs.c.input_removed_at.is_(None),
            jobs.c.expired_at.is_(None),  # expiring results takes the input with them
        )
        .order_by(jobs.c.finished_at)
        .limit(limit)
    )
    with db.read() as conn:
        return [JobRecord.from_row(r) for r in conn.execute(query)]


def _results_due(
    db: Database, before: datetime, now: datetime, limit: int, after: JobRecord | None
) -> list[JobRecord]:
    """Jobs whose results expire, and expired ones whose files are not all gone yet (a
    cleanup that stopped half-way, or files storage kept), oldest first, after ``after``:
    a cleanup walks past the jobs it could not finish instead of finding them again at the
    head of every batch."""
    due = (jobs.c.status.in_(ENDED) & (jobs.c.finished_at < before)) & jobs.c.expired_at.is_(None)
    # Left half-way (a crash between marking and removing, files kept): taken up again once
    # no cleanup can still be working on it.
    unfinished = (
        jobs.c.expired_at.is_not(None)
        & jobs.c.input_removed_at.is_(None)
        & (jobs.c.expired_at < now - STALE)
    )
    query = select(jobs).where(due | unfinished)
    if after is not None:
        query = query.where(
            tuple_(jobs.c.finished_at, jobs.c.id) > tuple_(after.finished_at, after.id)
        )
    query = query.order_by(jobs.c.finished_at, jobs.c.id).limit(limit)
    with db.read() as conn:
        return [JobRecord.from_row(r) for r in conn.execute(query)]


def _remove_input(db: Database, blobs: Blobs, record: JobRecord, now: datetime) -> bool:
    # Marked first: a retry (which needs the input) is refused from then on, and a retry
    # that came first keeps the job out of reach of this compare-and-set.
    with db.write() as conn:
        done = conn.execute(
            update(jobs)
            .where(
                jobs.c.id == record.id,
                jobs.c.input_removed_at.is_(None),
                jobs.c.status.in_(ENDED),
            )
            .values(input_removed_at=now)
        ).rowcount
    if done == 1:
        blobs.delete(results.input_key(record.id))
        # The PDF made from an image or office upload is the input in another form.
        blobs.delete(results.converted_key(record.id))
    return done == 1


def _expire(db: Database, blobs: Blobs, record: JobRecord, now: datetime) -> bool:
    if record.expired_at is None:
        with db.write() as conn:
            marked = conn.execute(
                update(jobs)
                .where(
                    jobs.c.id == record.id,
                    jobs.c.expired_at.is_(None),
                    jobs.c.status.in_(ENDED),  # a retry since the read keeps it alive
                )
                .values(expired_at=now, result_index=None)
            ).rowcount
        if marked != 1:
            return False
    try:
        blobs.delete_prefix(record.id)  # the input and every attempt's files
    except StorageError:
        # Not all gone (storage down, or keeping some): marked so, the row stays, and a later
        # clean-up tries again; rows go only once their files are gone.
        with db.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == record.id).values(input_removed_at=None))
        raise
    with db.write() as conn:  # files first, then rows; input_removed_at says it is done
        conn.execute(update(jobs).where(jobs.c.id == record.id).values(input_removed_at=now))
        forget_work(conn, record.id)
        conn.execute(
            delete(webhook_deliveries).where(
                webhook_deliveries.c.job_id == record.id,
                webhook_deliveries.c.status != "pending",
            )
        )
    return True


def _records(db: Database, before: datetime, *, dry_run: bool, limit: int) -> tuple[list[str], int]:
    stale = (
        select(jobs.c.id)
        .where(
            jobs.c.expired_at.is_not(None),
            jobs.c.input_removed_at.is_not(None),  # its files are gone
            jobs.c.finished_at < before,
        )
        .limit(limit)
    )
    old_events = select(events.c.id).where(events.c.at < before).limit(limit * 50)
    with db.read() as conn:
        ids = [r.id for r in conn.execute(stale)]
        event_ids = [r.id for r in conn.execute(old_events)]
    if dry_run or not (ids or event_ids):
        return ids, len(event_ids)
    with db.write() as conn:
        if ids:
            conn.execute(delete(jobs).where(jobs.c.id.in_(ids), jobs.c.expired_at.is_not(None)))
        if event_ids:
            conn.execute(delete(events).where(events.c.id.in_(event_ids)))
    return ids, len(event_ids)


def _each(due: Sequence[JobRecord], step: Callable[[JobRecord], bool]) -> list[str]:
    """The jobs ``step`` handled. One whose files storage will not remove (an object lock,
    a policy) is passed over, so it cannot stop the clean-up of every other job."""
    done = []
    for record in due:
        try:
            if step(record):
                done.append(record.id)
        except StorageError as exc:
            log.warning("retention left a job's files", job_id=record.id, error=str(exc))
    return done


def cleanup(
    db: Database,
    blobs: Blobs,
    retention: Retention,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    max_batches: int = 50,
) -> CleanupReport:
    """Remove what has outlived its retention (or, with ``dry_run``, say what would go).

    Works in batches of ``batch`` jobs, at most ``max_batches`` of each kind per call (a large
    backlog is worked off over several calls)."""
    now = now or utcnow()
    report = CleanupReport()
    if retention.results:
        last: JobRecord | None = None
        for _ in range(max_batches):
            due = _results_due(db, now - retention.results, now, batch, last)
            if dry_run:
                report.results += [r.id for r in due]
                break
            report.results += _each(due, lambda r: _expire(db, blobs, r, now))
            if len(due) < batch:
                break
            last = due[-1]
    if retention.inputs:
        for _ in range(max_batches):
            due = _inputs_due(db, now - retention.inputs, batch)
            if dry_run:
                report.inputs += [r.id for r in due if r.id not in report.results]
                break
            report.inputs += _each(due, lambda r: _remove_input(db, blobs, r, now))
            if len(due) < batch:
                break
    if retention.records:
        for _ in range(max_batches):
            ids, count = _records(db, now - retention.records, dry_run=dry_run, limit=batch)
            report.records += ids
            report.events += count
            if dry_run or (len(ids) < batch and count < batch * 50):
                break
    return report
