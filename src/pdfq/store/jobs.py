"""The job repository: the only place that changes a job's status.

Every transition is a compare-and-set on ``(status, attempts)`` inside one transaction with its
event rows (on PostgreSQL the hot ones are one statement, :mod:`pdfq.store.combined`), so a
repeated or late message, a zombie worker or two sweepers can never move a job twice (DESIGN
invariants 1 and 2). Functions take keyword-only arguments and return plain
records; they know nothing of HTTP or queues.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    Row,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from pdfq.domain import (
    ErrorCode,
    Job,
    JobError,
    JobStatus,
    Options,
    Progress,
)
from pdfq.formats import InputType
from pdfq.store import combined, fair, webhooks
from pdfq.store.db import Database
from pdfq.store.events import EventDraft, insert_events, with_pages
from pdfq.store.tables import chunks, jobs, pages

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job row as stored, including fields the API never shows."""

    id: str
    tenant: str
    batch_id: str | None
    status: JobStatus
    filename: str
    size_bytes: int
    sha256: str
    input_type: InputType
    options: Options
    secret: bytes | None
    idempotency_key: str | None
    priority: int
    attempts: int
    attempts_before_retry: int
    pages_total: int | None
    pages_done: int
    error_code: str | None
    error_message: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    result_attempt: int | None
    result_index: dict[str, list[int]] | None
    findings: dict[str, Any] | None
    run_after: datetime | None
    chunks_total: int | None
    chunks_done: int
    dedupe_of: str | None
    webhook_url: str | None
    input_removed_at: datetime | None
    expired_at: datetime | None
    trace_context: dict[str, str] | None
    fair_rank: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> JobRecord:
        data = dict(row._mapping)
        data["status"] = JobStatus(data["status"])
        data["input_type"] = InputType(data["input_type"])
        data["options"] = Options.model_validate(data["options"])
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        """The record as ``jobs`` table values."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["status"] = self.status.value
        row["input_type"] = self.input_type.value
        row["options"] = self.options.model_dump(mode="json", exclude_none=True)
        return row

    def to_job(self) -> Job:
        return public_job({name: getattr(self, name) for name in PUBLIC_COLUMNS})


PUBLIC_COLUMNS = (
    "id",
    "status",
    "filename",
    "size_bytes",
    "sha256",
    "input_type",
    "options",
    "pages_total",
    "pages_done",
    "error_code",
    "error_message",
    "attempts",
    "batch_id",
    "dedupe_of",
    "created_at",
    "started_at",
    "finished_at",
    "expired_at",
)
"""The columns the API shows of a job (an ending's notification carries them too: migration
0009)."""


def public_job(values: dict[str, Any]) -> Job:
    """The job as the API shows it, from its :data:`PUBLIC_COLUMNS` (a record's attributes,
    or the JSON values of a notification with its times parsed)."""
    code = values["error_code"]
    return Job(
        id=values["id"],
        status=JobStatus(values["status"]),
        filename=values["filename"],
        size_bytes=values["size_bytes"],
        sha256=values["sha256"],
        input_type=InputType(values["input_type"]).value,
        options=Options.model_validate(values["options"]),
        progress=Progress(pages_done=values["pages_done"], pages_total=values["pages_total"]),
        error=JobError(code=ErrorCode(code), message=values["error_message"] or "")
        if code
        else None,
        attempts=values["attempts"],
        batch_id=values["batch_id"],
        dedupe_of=values["dedupe_of"],
        created_at=values["created_at"],
        started_at=values["started_at"],
        finished_at=values["finished_at"],
        expired_at=values["expired_at"],
    )


@dataclass(frozen=True, slots=True)
class PageRecord:
    """One finished page, as indexed in the ``pages`` table.

    Its JSON is bytes ``offset`` to ``offset + length`` of the attempt's batch file ``batch``.
    """

    number: int
    attempt: int
    method: str
    chars: int
    tables: int
    batch: str
    offset: int
    length: int
    ocr_provider: str | None = None
    ocr_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """An attempt at a job, or at one chunk of a fanned-out job.

    ``record`` is the job row as claimed, when the claimer has it. For a chunk, ``chunk`` is its
    number, ``pages`` its first and last page, and ``attempt`` the chunk's own attempt.
    """

    job_id: str
    attempt: int
    record: JobRecord | None = None
    chunk: int | None = None
    pages: tuple[int, int] | None = None


@dataclass(slots=True)
class NewJob:
    """What the API knows about a job when it creates it."""

    id: str
    filename: str
    size_bytes: int
    sha256: str
    options: Options
    tenant: str = "default"
    input_type: InputType = InputType.PDF
    secret: bytes | None = None
    idempotency_key: str | None = None
    batch_id: str | None = None
    webhook_url: str | None = None
    """Where the end is announced (the job's own URL, else the server's default)."""
    trace_context: dict[str, str] | None = None
    """The creating request's trace context (when tracing is on)."""
    extra_events: list[EventDraft] = field(default_factory=list)

    def record(self, now: datetime) -> JobRecord:
        """The queued job row."""
        return JobRecord(
            id=self.id,
            tenant=self.tenant,
            batch_id=self.batch_id,
            status=JobStatus.QUEUED,
            filename=self.filename,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            input_type=self.input_type,
            options=self.options,
            secret=self.secret,
            idempotency_key=self.idempotency_key,
            priority=self.options.priority,
            attempts=0,
            attempts_before_retry=0,
            pages_total=None,
            pages_done=0,
            error_code=None,
            error_message=None,
            lease_owner=None,
            lease_expires_at=None,
            result_attempt=None,
            result_index=None,
            findings=None,
            run_after=None,
            chunks_total=None,
            chunks_done=0,
            dedupe_of=None,
            webhook_url=self.webhook_url,
            input_removed_at=None,
            expired_at=None,
            trace_context=self.trace_context,
            fair_rank=0,
            created_at=now,
            started_at=None,
            finished_at=None,
            updated_at=now,
        )

    def arrival_events(self) -> list[EventDraft]:
        received: EventDraft = (
            "received",
            {"filename": self.filename, "size_bytes": self.size_bytes, "sha256": self.sha256},
        )
        return [received, ("stored", {}), *self.extra_events]


# --- creating and reading -----------------------------------------------------------------


_INSERT_JOB = insert(jobs)
_CREATE_IN_ONE = combined.create()


def create_job(db: Database, *, new: NewJob, now: datetime | None = None) -> tuple[JobRecord, bool]:
    """Insert a queued job. Returns ``(record, created)``.

    With an idempotency key already used by the tenant, nothing is inserted and the first job is
    returned with ``created=False`` (also when two requests race with the same key).
    """
    now = now or utcnow()
    if not db.is_sqlite:
        return insert_once(db, new, lambda: _create_in_one(db, new, now))
    # The fair rank is read before the write transaction, to keep SQLite's single write lock
    # short; a rank a moment stale only reorders equals.
    with db.read() as conn:
        ranks = fair.assign(conn, [new.tenant])

    def insert_one() -> JobRecord:
        with db.write() as conn:
            return create_jobs(conn, [new], now, ranks=ranks)[0]

    return insert_once(db, new, insert_one)


def _create_in_one(db: Database, new: NewJob, now: datetime) -> JobRecord:
    """PostgreSQL: the job, its fair rank and its arrival events in one statement."""
    record = new.record(now)
    params = record.to_row()
    del params["fair_rank"]  # computed by the statement
    params["event_rows"] = combined.event_rows(new.arrival_events())
    with db.autocommit() as conn:
        rank = conn.execute(_CREATE_IN_ONE, params).scalar_one()
    return dataclasses.replace(record, fair_rank=int(rank))


def insert_once(
    db: Database, new: NewJob, insert_job: Callable[[], JobRecord]
) -> tuple[JobRecord, bool]:
    """Run ``insert_job``; when it collides with the tenant's earlier job of the same
    idempotency key, return that job instead. Returns ``(record, created)``."""
    try:
        return insert_job(), True
    except IntegrityError:
        if new.idempotency_key is None:
            raise
        existing = find_by_idempotency_key(db, tenant=new.tenant, key=new.idempotency_key)
        if existing is None:
            raise
        return existing, False


def create_jobs(
    conn: Connection, news: Sequence[NewJob], now: datetime, *, ranks: Sequence[int] | None = None
) -> list[JobRecord]:
    """Insert queued jobs with their arrival events, inside the caller's transaction
    (``ranks``: their fair ranks, read beforehand; else read here)."""
    if ranks is None:
        ranks = fair.assign(conn, [new.tenant for new in news])
    records = [
        dataclasses.replace(new.record(now), fair_rank=rank)
        for new, rank in zip(news, ranks, strict=True)
    ]
    if records:
        conn.execute(_INSERT_JOB, [r.to_row() for r in records])
    for new in news:
        insert_events(conn, new.id, new.arrival_events(), now, tenant=new.tenant)
    return records


# Statements on hot paths are built once: building a SQLAlchemy statement costs more than
# running it against SQLite. Bound parameters avoid column names (SQLAlchemy reserves those).
_BY_ID = select(jobs).where(jobs.c.id == bindparam("job_id"))
_BY_ID_AND_TENANT = _BY_ID.where(jobs.c.tenant == bindparam("owner_tenant"))
_THIS_ATTEMPT = (
    (jobs.c.id == bindparam("job_id"))
    & (jobs.c.status == RUNNING)
    & (jobs.c.attempts == bindparam("attempt"))
)
_JSON_OR_NULL = JSON(none_as_null=True)


def get_job(db: Database, *, job_id: str, tenant: str | None = None) -> JobRecord | None:
    """The job, or ``None`` when unknown or owned by another tenant."""
    with db.read() as conn:
        if tenant is None:
            row = conn.execute(_BY_ID, {"job_id": job_id}).first()
        else:
            row = conn.execute(
                _BY_ID_AND_TENANT, {"job_id": job_id, "owner_tenant": tenant}
            ).first()
    return JobRecord.from_row(row) if row else None


def find_by_idempotency_key(db: Database, *, tenant: str, key: str) -> JobRecord | None:
    query = select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)
    with db.read() as conn:
        row = conn.execute(query).first()
    return JobRecord.from_row(row) if row else None


def list_jobs(
    db: Database,
    *,
    tenant: str,
    status: JobStatus | None = None,
    batch_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[JobRecord], str | None]:
    """Newest first. Returns the records and the cursor of the next page (or ``None``)."""
    query = select(jobs).where(jobs.c.tenant == tenant)
    if status is not None:
        query = query.where(jobs.c.status == status.value)
    if batch_id is not None:
        query = query.where(jobs.c.batch_id == batch_id)
    if cursor:
        query = query.where(jobs.c.id < cursor)
    query = query.order_by(jobs.c.id.desc()).limit(limit + 1)
    with db.read() as conn:
        rows = conn.execute(query).all()
    records = [JobRecord.from_row(r) for r in rows[:limit]]
    next_cursor = records[-1].id if len(rows) > limit else None
    return records, next_cursor


def count_queued(db: Database, *, tenant: str | None = None) -> int:
    """Queued jobs (of one tenant, or all)."""
    query = select(func.count()).where(jobs.c.status == QUEUED)
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def get_page(db: Database, *, job_id: str, number: int) -> PageRecord | None:
    query = select(pages).where(pages.c.job_id == job_id, pages.c.number == number)
    with db.read() as conn:
        row = conn.execute(query).first()
    return _page_record(row) if row is not None else None


def list_pages(db: Database, *, job_id: str) -> list[PageRecord]:
    """The job's page index, in page order."""
    query = select(pages).where(pages.c.job_id == job_id).order_by(pages.c.number)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [_page_record(r) for r in rows]


def _page_record(row: Row[Any]) -> PageRecord:
    m = row._mapping
    return PageRecord(
        number=m["number"],
        attempt=m["attempt"],
        method=m["method"],
        chars=m["chars"],
        tables=m["tables"],
        batch=m["batch"],
        offset=m["offset"],
        length=m["length"],
        ocr_provider=m["ocr_provider"],
        ocr_confidence=m["ocr_confidence"],
    )


# --- worker side: claims, leases, progress, outcome -----------------------------------------


_CLAIM_SET: dict[str, Any] = {
    "status": RUNNING,
    "attempts": jobs.c.attempts + 1,
    "lease_owner": bindparam("owner"),
    "lease_expires_at": bindparam("expires"),
    "started_at": func.coalesce(jobs.c.started_at, bindparam("now")),
    "pages_done": 0,
    "chunks_total": None,
    "chunks_done": 0,
    "run_after": None,
    "updated_at": bindparam("now"),
}
_CLAIM_ORDER = (jobs.c.priority.desc(), jobs.c.fair_rank, jobs.c.id)
_CLAIMABLE = (jobs.c.status == QUEUED) & (
    (jobs.c.run_after.is_(None)) | (jobs.c.run_after <= bindparam("now"))
)
_NEXT_QUEUED = select(jobs.c.id).where(_CLAIMABLE).order_by(*_CLAIM_ORDER).limit(1)


def _claim_next_statement(*, skip_locked: bool, max_running: int) -> Any:
    pick = _NEXT_QUEUED
    if max_running:
        pick = pick.where(jobs.c.tenant.not_in(fair.busy_tenants(max_running)))
    if skip_locked:
        # PostgreSQL: concurrent claimers skip each other's candidate rows instead of queueing.
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(jobs)
        .where(jobs.c.id == pick.scalar_subquery(), jobs.c.status == QUEUED)
        .values(_CLAIM_SET)
        .returning(jobs)
    )


_CLAIM_NEXT = {
    skip: _claim_next_statement(skip_locked=skip, max_running=0) for skip in (False, True)
}
_NEXT_KEY = (
    select(jobs.c.priority, jobs.c.fair_rank).where(_CLAIMABLE).order_by(*_CLAIM_ORDER).limit(1)
)
_CLAIM_BY_ID = (
    update(jobs)
    .where(
        jobs.c.id == bindparam("job_id"),
        jobs.c.status == QUEUED,
        (jobs.c.run_after.is_(None)) | (jobs.c.run_after <= bindparam("now")),
    )
    .values(_CLAIM_SET)
    .returning(jobs)
)
_DELETE_PAGES = delete(pages).where(pages.c.job_id == bindparam("job_id"))
_DELETE_CHUNKS = delete(chunks).where(chunks.c.job_id == bindparam("job_id"))


def forget_work(conn: Connection, job_id: str) -> None:
    """Drop the page index and chunks an earlier attempt left behind."""
    conn.execute(_DELETE_PAGES, {"job_id": job_id})
    conn.execute(_DELETE_CHUNKS, {"job_id": job_id})


def _claimed(conn: Connection, row: Row[Any] | None, now: datetime) -> Claim | None:
    claim = _claim_of(row)
    if claim is None or claim.record is None:
        return None
    if claim.attempt > 1:  # an earlier attempt may have indexed pages or fanned out
        forget_work(conn, claim.job_id)
    started: EventDraft = ("started", {"attempt": claim.attempt})
    insert_events(conn, claim.job_id, [started], now, tenant=claim.record.tenant)
    return claim


def _claim_of(row: Row[Any] | None) -> Claim | None:
    if row is None:
        return None
    record = JobRecord.from_row(row)
    return Claim(job_id=record.id, attempt=record.attempts, record=record)


# PostgreSQL runs each claim with its event as one statement (store/combined.py).
_CLAIM_NEXT_IN_ONE = combined.claim(_CLAIM_NEXT[True])
_CLAIM_BY_ID_IN_ONE = combined.claim(_CLAIM_BY_ID)


def _claim(
    db: Database, statement: Any, params: dict[str, Any], now: datetime, in_one: Any = None
) -> Claim | None:
    """Run a claim with its ``started`` event (and an earlier attempt's clean-up): on SQLite
    ``statement`` in a transaction, on PostgreSQL the same as one statement (``in_one`` when
    built beforehand)."""
    if db.is_sqlite:
        with db.write() as conn:
            return _claimed(conn, conn.execute(statement, params).first(), now)
    if in_one is None:
        in_one = combined.claim(statement)
    with db.autocommit() as conn:
        return _claim_of(conn.execute(in_one, params).first())


def _claim_params(owner: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    return {"owner": owner, "expires": now + timedelta(seconds=lease_seconds), "now": now}


def claim_next(
    db: Database,
    *,
    owner: str,
    lease_seconds: float,
    max_running: int = 0,
    now: datetime | None = None,
) -> Claim | None:
    """Take the next queued job (highest priority, then the fair order across tenants, then
    oldest), or ``None`` if there is none. With ``max_running``, tenants with that many units
    of work running are passed over."""
    now = now or utcnow()
    skip = not db.is_sqlite
    params = _claim_params(owner, lease_seconds, now)
    if max_running:
        statement = _claim_next_statement(skip_locked=skip, max_running=max_running)
        return _claim(db, statement, params, now)
    return _claim(db, _CLAIM_NEXT[skip], params, now, _CLAIM_NEXT_IN_ONE)


def next_job_key(
    db: Database, *, max_running: int = 0, now: datetime | None = None
) -> tuple[int, int] | None:
    """``(-priority, fair rank)`` of the job :func:`claim_next` would take, or ``None``."""
    query = _NEXT_KEY
    if max_running:
        query = query.where(jobs.c.tenant.not_in(fair.busy_tenants(max_running)))
    with db.read() as conn:
        row = conn.execute(query, {"now": now or utcnow()}).first()
    return None if row is None else (-row.priority, row.fair_rank)


def claim(
    db: Database, *, job_id: str, owner: str, lease_seconds: float, now: datetime | None = None
) -> Claim | None:
    """Take one queued job by id; ``None`` if it is not queued (already taken, done, canceled)."""
    now = now or utcnow()
    params = {"job_id": job_id, **_claim_params(owner, lease_seconds, now)}
    return _claim(db, _CLAIM_BY_ID, params, now, _CLAIM_BY_ID_IN_ONE)


def _running(job_id: str, attempt: int) -> Any:
    return (jobs.c.id == job_id) & (jobs.c.status == RUNNING) & (jobs.c.attempts == attempt)


# Only the lease's holder renews it: a renewal in flight when the attempt handed the job on
# (fanned out, or given back and claimed again under the same number after a graceful
# hand-back) misses.
_RENEW = (
    update(jobs)
    .where(_THIS_ATTEMPT & (jobs.c.lease_owner == bindparam("owner")))
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("expires"),
        updated_at=bindparam("now"),
    )
)


def renew_lease(
    db: Database,
    *,
    job_id: str,
    attempt: int,
    owner: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Extend the lease ``owner`` holds; ``False`` means the job is no longer this attempt's
    to run."""
    now = now or utcnow()
    params = {"job_id": job_id, "attempt": attempt, **_claim_params(owner, lease_seconds, now)}
    with db.write() as conn:
        result = conn.execute(_RENEW, params)
    return result.rowcount == 1


def _page_rows(
    job_id: str, page_records: Sequence[PageRecord], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "job_id": job_id,
            "number": p.number,
            "attempt": p.attempt,
            "method": p.method,
            "chars": p.chars,
            "tables": p.tables,
            "batch": p.batch,
            "offset": p.offset,
            "length": p.length,
            "ocr_provider": p.ocr_provider,
            "ocr_confidence": p.ocr_confidence,
            "done_at": now,
        }
        for p in page_records
    ]


class _Lost(Exception):
    """Raised inside a transaction to roll it back when the compare-and-set misses."""


_PROGRESS_SET: dict[str, Any] = {
    "pages_done": jobs.c.pages_done + bindparam("new_pages", type_=Integer),
    "pages_total": func.coalesce(bindparam("total", type_=Integer), jobs.c.pages_total),
    "findings": func.coalesce(bindparam("found", type_=_JSON_OR_NULL), jobs.c.findings),
    "updated_at": bindparam("now"),
}
_PROGRESS = update(jobs).where(_THIS_ATTEMPT).values(_PROGRESS_SET).returning(jobs)
_ENDED_SET: dict[str, Any] = {
    **_PROGRESS_SET,
    "finished_at": bindparam("now"),
    "lease_owner": None,
    "lease_expires_at": None,
    "secret": None,
}
_SUCCEED = (
    update(jobs)
    .where(_THIS_ATTEMPT)
    .values(
        {
            **_ENDED_SET,
            "status": JobStatus.SUCCEEDED.value,
            "result_attempt": bindparam("attempt"),
            "result_index": bindparam("index", type_=JSON),
        }
    )
    .returning(jobs)
)
_FAIL = (
    update(jobs)
    .where(_THIS_ATTEMPT)
    .values(
        {
            **_ENDED_SET,
            "status": JobStatus.FAILED.value,
            "error_code": bindparam("code"),
            "error_message": bindparam("message"),
        }
    )
    .returning(jobs)
)
_INSERT_PAGES = insert(pages)
# PostgreSQL runs each with its page rows and events as one statement (store/combined.py),
# except an end that must queue a webhook delivery: that takes the transaction.
_PROGRESS_IN_ONE = combined.apply(_PROGRESS)
_SUCCEED_IN_ONE = combined.apply(_SUCCEED.where(jobs.c.webhook_url.is_(None)))
_FAIL_IN_ONE = combined.apply(_FAIL.where(jobs.c.webhook_url.is_(None)))


def _apply(
    db: Database,
    statement: Any,
    in_one: Any | None,
    params: dict[str, Any],
    *,
    job_id: str,
    page_records: Sequence[PageRecord],
    events: Iterable[EventDraft],
    now: datetime,
) -> bool:
    """Run one compare-and-set with its page rows and events, all or nothing: on PostgreSQL
    ``in_one`` (when given), the same as one statement, where it can."""
    events = list(events)
    if in_one is not None and not db.is_sqlite:
        rows = {
            "page_rows": combined.page_rows(_page_rows(job_id, page_records, now)),
            "event_rows": combined.event_rows(with_pages(events, page_notes(page_records))),
        }
        with db.autocommit() as conn:
            if conn.execute(in_one, {**params, **rows}).first() is not None:
                return True
        # Missed: the attempt lost the job, or the job ends with a webhook to queue (from
        # its whole row, which in_one leaves alone). The transaction tells which.
    try:
        with db.write() as conn:
            row = conn.execute(statement, params).first()
            if row is None:
                raise _Lost
            if page_records:
                conn.execute(_INSERT_PAGES, _page_rows(job_id, page_records, now))
            progress = (row.pages_done, row.pages_total)
            notes = page_notes(page_records)
            insert_events(
                conn, job_id, events, now, pages=notes, progress=progress, tenant=row.tenant
            )
            if row.status != RUNNING:
                ended(conn, JobRecord.from_row(row), now)
    except _Lost:
        return False
    return True


def ended(conn: Connection, record: JobRecord, now: datetime) -> None:
    """What follows a job's end inside the transaction that ends it: its webhook delivery."""
    url = record.webhook_url
    if url:
        webhooks.enqueue(
            conn,
            job_id=record.id,
            url=url,
            event=f"job.{record.status.value}",
            payload=record.to_job().model_dump_json(),
            now=now,
        )


def page_notes(page_records: Sequence[PageRecord]) -> list[dict[str, Any]]:
    """What a live notification says of finished pages."""
    return [{"number": p.number, "method": p.method} for p in page_records]


def record_progress(
    db: Database,
    *,
    job_id: str,
    attempt: int,
    pages_total: int | None = None,
    page_records: Sequence[PageRecord] = (),
    events: Iterable[EventDraft] = (),
    findings: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Record finished pages (and the page total once known). ``False``: job no longer ours."""
    now = now or utcnow()
    params = {
        "job_id": job_id,
        "attempt": attempt,
        "new_pages": len(page_records),
        "total": pages_total,
        "found": findings,
        "now": now,
    }
    return _apply(
        db,
        _PROGRESS,
        _PROGRESS_IN_ONE,
        params,
        job_id=job_id,
        page_records=page_records,
        events=events,
        now=now,
    )


def finish(
    db: Database,
    *,
    job_id: str,
    attempt: int,
    error: JobError | None = None,
    result_index: dict[str, tuple[int, int]] | None = None,
    pages_total: int | None = None,
    findings: dict[str, Any] | None = None,
    page_records: Sequence[PageRecord] = (),
    events: Iterable[EventDraft] = (),
    data: dict[str, Any] | None = None,
    has_webhook: bool | None = None,
    now: datetime | None = None,
) -> bool:
    """End a running attempt: ``succeeded`` (its result object indexed by ``result_index``)
    or ``failed``.

    ``False`` when the attempt no longer owns the job (canceled, or re-queued after its lease
    expired): its results must then be discarded. ``has_webhook``: whether the job has a
    webhook, when the caller knows (its record): on PostgreSQL such an end goes straight to
    the transaction that queues the delivery.
    """
    now = now or utcnow()
    params: dict[str, Any] = {
        "job_id": job_id,
        "attempt": attempt,
        "new_pages": len(page_records),
        "total": pages_total,
        "found": findings,
        "now": now,
    }
    if error is None:
        statement, in_one = _SUCCEED, _SUCCEED_IN_ONE
        params["index"] = {k: list(v) for k, v in (result_index or {}).items()}
        final: EventDraft = ("succeeded", {"attempt": attempt, **(data or {})})
    else:
        statement, in_one = _FAIL, _FAIL_IN_ONE
        params |= {"code": error.code.value, "message": error.message}
        final = ("failed", {"attempt": attempt, "code": error.code.value, "message": error.message})
    return _apply(
        db,
        statement,
        None if has_webhook else in_one,
        params,
        job_id=job_id,
        page_records=page_records,
        events=[*events, final],
        now=now,
    )


_BEFORE_RETRY = select(jobs.c.attempts_before_retry).where(jobs.c.id == bindparam("job_id"))


def requeue(
    db: Database,
    *,
    job_id: str,
    attempt: int,
    reason: str,
    max_attempts: int,
    final_code: ErrorCode = ErrorCode.WORKER_LOST,
    count_attempt: bool = True,
    delay_seconds: float = 0.0,
    owner: str | None = None,
    now: datetime | None = None,
) -> JobStatus | None:
    """Give a running attempt back: re-queue the job, or fail it once attempts are used up.

    ``count_attempt=False`` hands the job back without spending an attempt (graceful shutdown);
    ``delay_seconds`` keeps it from being claimed again before then (back-off); ``owner``:
    only while that process holds the lease (a late retry must not give back a newer run).
    Returns the new status, or ``None`` if the attempt did not own the job any more.
    """
    now = now or utcnow()
    cleared: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    condition = _running(job_id, attempt)
    if owner is not None:
        condition &= jobs.c.lease_owner == owner
    with db.write() as conn:
        # The budget counts from the last retry (attempt numbers go on across retries); that
        # mark cannot move while this attempt runs (a retry takes only an ended job).
        spent = 0
        if count_attempt:
            spent = attempt - (conn.execute(_BEFORE_RETRY, {"job_id": job_id}).scalar() or 0)
        if count_attempt and spent >= max_attempts:
            message = f"{reason}; gave up after {spent} attempts"
            values = {
                **cleared,
                "status": JobStatus.FAILED.value,
                "error_code": final_code.value,
                "error_message": message,
                "finished_at": now,
                "secret": None,
            }
            event: EventDraft = (
                "failed",
                {"attempt": attempt, "code": final_code.value, "message": message},
            )
            new_status = JobStatus.FAILED
        else:
            values = {**cleared, "status": QUEUED, "pages_done": 0}
            if delay_seconds > 0:
                values["run_after"] = now + timedelta(seconds=delay_seconds)
            if not count_attempt:
                values["attempts"] = jobs.c.attempts - 1
            event = ("retried", {"attempt": attempt, "reason": reason})
            new_status = JobStatus.QUEUED
        row = conn.execute(update(jobs).where(condition).values(values).returning(jobs)).first()
        if row is None:
            return None
        if not count_attempt:
            # The next claim reuses this attempt's number, so it cannot tell that pages were
            # indexed (a new number makes it forget them): forget them here.
            forget_work(conn, job_id)
        insert_events(conn, job_id, [event], now, tenant=row.tenant)
        if new_status == JobStatus.FAILED:
            ended(conn, JobRecord.from_row(row), now)
    return new_status


def queued_since(db: Database, *, before: datetime, limit: int, max_running: int = 0) -> list[str]:
    """Queued jobs waiting since before ``before`` (oldest first): candidates for a lost
    message when the broker holds fewer messages than the store holds queued jobs.

    With ``max_running``, the jobs of tenants at that many running units are left out: they
    wait on purpose, and their messages wait with them, re-sent with a delay and held by
    workers, where the broker's count does not see them (each one re-sent on top of them
    would go round as well, every sweep adding more)."""
    query = select(jobs.c.id).where(jobs.c.status == QUEUED, jobs.c.updated_at < before)
    if max_running:
        query = query.where(jobs.c.tenant.not_in(fair.busy_tenants(max_running)))
    query = query.order_by(jobs.c.updated_at).limit(limit)
    with db.read() as conn:
        return [r.id for r in conn.execute(query)]


def expired_leases(db: Database, *, now: datetime | None = None, limit: int = 500) -> list[Claim]:
    """Running attempts whose lease has run out (their worker is presumed dead)."""
    now = now or utcnow()
    query = (
        select(jobs.c.id, jobs.c.attempts)
        .where(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)
        .limit(limit)
    )
    with db.read() as conn:
        return [Claim(job_id=r.id, attempt=r.attempts) for r in conn.execute(query)]


def running_leases(db: Database) -> list[tuple[Claim, str | None]]:
    """Every running attempt with its lease owner (the sweeper checks owners on this host)."""
    query = select(jobs.c.id, jobs.c.attempts, jobs.c.lease_owner).where(jobs.c.status == RUNNING)
    with db.read() as conn:
        return [
            (Claim(job_id=r.id, attempt=r.attempts), r.lease_owner) for r in conn.execute(query)
        ]


# --- client actions: cancel, retry, delete --------------------------------------------------


def cancel(
    db: Database, *, job_id: str, tenant: str | None = None, now: datetime | None = None
) -> tuple[JobRecord | None, JobStatus | None]:
    """Cancel a queued or running job. Returns ``(record after, status before)``.

    A job that already ended is returned unchanged (``status before`` is its status).
    """
    now = now or utcnow()
    record = get_job(db, job_id=job_id, tenant=tenant)
    if record is None:
        return None, None
    if record.status.is_terminal:
        return record, record.status
    with db.write() as conn:
        row = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_([QUEUED, RUNNING]))
            .values(
                status=JobStatus.CANCELED.value,
                error_code=ErrorCode.CANCELED.value,
                error_message="canceled by request",
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                secret=None,
            )
            .returning(jobs)
        ).first()
        if row is not None:
            insert_events(
                conn,
                job_id,
                [("canceled", {"was": record.status.value})],
                now,
                tenant=record.tenant,
            )
            canceled = JobRecord.from_row(row)
            ended(conn, canceled, now)
    if row is None:  # it ended meanwhile: report what it became
        return cancel(db, job_id=job_id, tenant=tenant, now=now)
    return canceled, record.status


def retry(
    db: Database, *, job_id: str, tenant: str | None = None, now: datetime | None = None
) -> JobRecord | None:
    """Queue a failed or canceled job again with a fresh attempt budget.

    The attempt numbers go on from where they were: a run of the job may still be stopping
    (canceled a moment ago), and the run that loses the job deletes its number's files.
    Returns the updated record, or ``None`` when the job is not failed or canceled.
    """
    now = now or utcnow()
    query = update(jobs).where(
        jobs.c.id == job_id,
        jobs.c.status.in_([JobStatus.FAILED.value, JobStatus.CANCELED.value]),
        jobs.c.input_removed_at.is_(None),
        jobs.c.expired_at.is_(None),  # expiring, its files not all gone yet (retention)
    )
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    owner = select(jobs.c.tenant).where(jobs.c.id == job_id)
    with db.write() as conn:
        owner_tenant = conn.execute(owner).scalar()
        if owner_tenant is None:
            return None
        result = conn.execute(
            query.values(
                status=QUEUED,
                fair_rank=fair.first_rank(conn, owner_tenant),  # a new turn, like a new job
                attempts_before_retry=jobs.c.attempts,
                error_code=None,
                error_message=None,
                finished_at=None,
                started_at=None,
                pages_done=0,
                pages_total=None,
                result_attempt=None,
                result_index=None,
                chunks_total=None,
                chunks_done=0,
                run_after=None,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return None
        forget_work(conn, job_id)
        insert_events(conn, job_id, [("retried", {"by": "request"})], now)
    return get_job(db, job_id=job_id)


def delete_job(db: Database, *, job_id: str, now: datetime | None = None) -> bool:
    """Remove the job and its page index; its events stay as the audit trail."""
    now = now or utcnow()
    with db.write() as conn:
        forget_work(conn, job_id)
        tenant = conn.execute(
            delete(jobs).where(jobs.c.id == job_id).returning(jobs.c.tenant)
        ).scalar()
        if tenant is not None:
            insert_events(conn, job_id, [("deleted", {})], now, tenant=tenant)
    return tenant is not None
