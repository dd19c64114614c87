"""Runs one job; the only place that orchestrates the work.

claim → fetch the input → safety scan → pages (text layer; tables; Markdown) with progress
→ result files → compare-and-set to ``succeeded`` (or a terminal error). Every exit is a
terminal state with a stable code, a re-queue, or a no-op because another attempt owns the job.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from pdfq import results
from pdfq.domain import ErrorCode, JobError, JobStatus, PageResult
from pdfq.errors import Canceled, InputError, InputMissing, ProcessingError, TransientError
from pdfq.extract.document import Document, assemble
from pdfq.store import jobs as repo
from pdfq.store.events import EventDraft
from pdfq.store.jobs import Claim, JobRecord, PageRecord
from pdfq.worker.context import JobControl, LeaseLost, WorkerContext

log = structlog.get_logger(__name__)

Notify = Callable[[str, dict[str, Any]], None]
"""Called with live notifications: ``("pages", {...})`` as pages finish."""

FLUSH_SECONDS = 0.25  # page progress is committed (and announced) at most this often


@dataclass(frozen=True, slots=True)
class Outcome:
    job_id: str
    status: JobStatus | None
    """The status this attempt left the job in; ``None`` if it did not own the job."""
    error: JobError | None = None


@dataclass
class _Progress:
    """Batches finished pages: a long document writes one page file, commits one
    transaction and sends one live notification a few times a second, not once per page."""

    ctx: WorkerContext
    claim: Claim
    notify: Notify | None = None
    pages_total: int | None = None
    findings: dict[str, Any] | None = None
    pages: list[PageRecord] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)
    unannounced: list[dict[str, Any]] = field(default_factory=list)
    batch: bytearray = field(default_factory=bytearray)
    done: int = 0
    last_flush: float = field(default_factory=time.monotonic)

    def page_done(self, page: PageResult) -> None:
        data = page.model_dump_json().encode() + b"\n"
        name = results.page_batch_name(self.pages[0].number if self.pages else page.number)
        self.pages.append(
            PageRecord(
                number=page.number,
                attempt=self.claim.attempt,
                method=page.method,
                chars=len(page.text),
                tables=len(page.tables),
                batch=name,
                offset=len(self.batch),
                length=len(data),
                ocr_provider=page.ocr_provider,
                ocr_confidence=page.ocr_confidence,
            )
        )
        self.batch += data
        self.unannounced.append({"number": page.number, "method": page.method})
        self.done += 1
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def write_batch(self) -> None:
        """Store the pages done since the last batch (before their rows are committed)."""
        if self.pages:
            key = results.page_batch_key(self.claim.job_id, self.claim.attempt, self.pages[0].batch)
            self.ctx.blobs.put(key, bytes(self.batch))
        self.batch = bytearray()

    def announce(self) -> None:
        """Tell live listeners which pages finished since the last announcement."""
        if self.notify is not None and self.unannounced:
            self.notify(
                "pages",
                {
                    "job_id": self.claim.job_id,
                    "pages": self.unannounced,
                    "pages_done": self.done,
                    "pages_total": self.pages_total,
                },
            )
        self.unannounced = []

    def flush(self) -> None:
        self.write_batch()
        ok = repo.record_progress(
            self.ctx.db,
            job_id=self.claim.job_id,
            attempt=self.claim.attempt,
            pages_total=self.pages_total,
            findings=self.findings,
            page_records=self.pages,
            events=self.events,
        )
        if not ok:
            raise LeaseLost
        self.pages, self.events, self.findings = [], [], None
        self.last_flush = time.monotonic()
        self.announce()


def _extract(
    ctx: WorkerContext,
    record: JobRecord,
    control: JobControl,
    progress: _Progress,
) -> int:
    """Extract every selected page and write the result files; returns the page count."""
    claim = control.claim
    password = ctx.secrets.decrypt(record.secret) if record.secret else None
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        try:
            path = stack.enter_context(ctx.blobs.local_file(results.input_key(record.id)))
        except FileNotFoundError as exc:
            raise InputMissing from exc
        doc = stack.enter_context(
            Document(path, options=record.options, password=password, limits=ctx.limits)
        )
        progress.pages_total = len(doc.page_numbers)
        progress.findings = doc.findings
        progress.events.append(("scanned", {"findings": doc.findings, "pages": doc.page_count}))
        pages: list[PageResult] = []
        for number in doc.page_numbers:
            control.check()
            page = doc.extract_page(number)
            pages.append(page)
            if page.warnings:
                progress.events.append(("page_unreadable", {"page": number, "why": page.warnings}))
            progress.page_done(page)
        control.check()
        doc.check_readable(pages)
        document = assemble(
            job_id=record.id,
            filename=record.filename,
            page_count=doc.page_count,
            metadata=doc.metadata,
            pages=pages,
        )
    progress.write_batch()
    results.write_results(ctx.blobs, job_id=record.id, attempt=claim.attempt, result=document)
    seconds = round(time.monotonic() - started, 3)
    progress.events.append(("extracted", {"pages": len(pages), "seconds": seconds}))
    return len(pages)


def _discard(ctx: WorkerContext, claim: Claim) -> None:
    try:
        ctx.blobs.delete_prefix(results.attempt_prefix(claim.job_id, claim.attempt))
    except Exception as exc:  # leftovers are harmless: nothing points at them
        log.warning("could not remove discarded results", error=str(exc))


def _fail(ctx: WorkerContext, claim: Claim, error: JobError, progress: _Progress) -> Outcome:
    ok = repo.finish(
        ctx.db,
        job_id=claim.job_id,
        attempt=claim.attempt,
        error=error,
        pages_total=progress.pages_total,
        findings=progress.findings,
        page_records=progress.pages,
        events=progress.events,
    )
    _discard(ctx, claim)
    return Outcome(claim.job_id, JobStatus.FAILED if ok else None, error)


def process_job(
    ctx: WorkerContext,
    claim: Claim,
    *,
    control: JobControl | None = None,
    notify: Notify | None = None,
) -> Outcome:
    """Run a claimed attempt to its end. Never raises for anything a document can cause."""
    control = control or ctx.control_for(claim)
    record = claim.record or repo.get_job(ctx.db, job_id=claim.job_id)
    if record is None or record.status != JobStatus.RUNNING or record.attempts != claim.attempt:
        return Outcome(claim.job_id, None)
    bound = structlog.contextvars.bound_contextvars(
        job_id=claim.job_id, tenant=record.tenant, attempt=claim.attempt
    )
    with bound, ctx.leases.hold(control):
        progress = _Progress(ctx, claim, notify)
        try:
            page_count = _extract(ctx, record, control, progress)
            ok = repo.finish(
                ctx.db,
                job_id=claim.job_id,
                attempt=claim.attempt,
                pages_total=progress.pages_total,
                findings=progress.findings,
                page_records=progress.pages,
                events=progress.events,
                data={"pages": page_count},
            )
            if not ok:
                _discard(ctx, claim)
                return Outcome(claim.job_id, None)
            progress.announce()
            log.info("job succeeded", pages=page_count)
            return Outcome(claim.job_id, JobStatus.SUCCEEDED)
        except Canceled:
            _discard(ctx, claim)
            return Outcome(claim.job_id, JobStatus.CANCELED)
        except LeaseLost:
            _discard(ctx, claim)
            return Outcome(claim.job_id, None)
        except (InputError, ProcessingError) as exc:
            log.info("job failed", code=exc.code.value, reason=exc.message)
            return _fail(ctx, claim, JobError(code=exc.code, message=exc.message), progress)
        except TransientError as exc:
            log.warning("job hit a transient error", code=exc.code.value, reason=exc.message)
            _discard(ctx, claim)
            status = repo.requeue(
                ctx.db,
                job_id=claim.job_id,
                attempt=claim.attempt,
                reason=exc.message,
                max_attempts=ctx.settings.max_attempts,
                final_code=exc.code,
            )
            return Outcome(claim.job_id, status)
        except Exception as exc:
            log.exception("job crashed")
            message = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
            return _fail(ctx, claim, JobError(code=ErrorCode.INTERNAL, message=message), progress)


def run_job(ctx: WorkerContext, job_id: str, *, notify: Notify | None = None) -> Outcome:
    """Claim a queued job by id and run it; a no-op if someone else has it or it has ended."""
    claim = repo.claim(
        ctx.db, job_id=job_id, owner=ctx.owner, lease_seconds=ctx.settings.lease_seconds
    )
    if claim is None:
        return Outcome(job_id, None)
    return process_job(ctx, claim, notify=notify)
