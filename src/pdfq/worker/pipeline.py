"""Runs one job, or one chunk of a large job; the only place that orchestrates the work.

A job: claim → fetch the input → safety scan → pages (text layer, tables, Markdown, or OCR)
with progress → result files → compare-and-set to ``succeeded`` (or a terminal error). A
document with more pages than ``PDFQ_FANOUT_PAGES``, or with more pages to OCR than
``PDFQ_OCR_CHUNK_PAGES``, is instead split into page-range chunks that any worker can run, so
one large or scanned document keeps every worker busy; the worker finishing the last chunk
merges the pages and finishes the job.
Every exit is a terminal state with a stable code, a re-queue, or a no-op because another
attempt owns the work.
"""

from __future__ import annotations

import contextlib
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from pdfq import results, scratch, tracing
from pdfq.blobs import put_file
from pdfq.domain import ErrorCode, JobError, JobStatus, Metadata, OcrMode, PageResult
from pdfq.errors import (
    Canceled,
    Encrypted,
    InputError,
    InputMissing,
    PdfqError,
    ProcessingError,
    TransientError,
)
from pdfq.extract import convert
from pdfq.extract.document import Document, assemble
from pdfq.formats import InputType
from pdfq.store import chunks as chunk_repo
from pdfq.store import jobs as repo
from pdfq.store.events import EventDraft
from pdfq.store.jobs import Claim, JobRecord, PageRecord
from pdfq.worker.context import JobControl, LeaseLost, WorkerContext
from pdfq.worker.sweeper import give_back

log = structlog.get_logger(__name__)

Notify = Callable[[str, dict[str, Any]], None]
"""Called with live notifications: ``("pages", {...})`` as pages finish."""

FLUSH_SECONDS = 0.25  # page progress is committed (and announced) at most this often
DOCUMENT_INFO = "document.json"  # page count and metadata of a fanned-out job, for the merge


@dataclass(frozen=True, slots=True)
class Outcome:
    job_id: str
    status: JobStatus | None
    """The status this attempt left the job in; ``None`` if it did not own the work."""
    error: JobError | None = None


Commit = Callable[[Sequence[PageRecord], Sequence[EventDraft]], bool]


@dataclass
class _Progress:
    """Batches finished pages: a long document writes one page file, commits one
    transaction and sends one live notification a few times a second, not once per page."""

    ctx: WorkerContext
    job_id: str
    results_attempt: int  # the job attempt whose folder holds the pages
    commit: Commit
    notify: Notify | None = None
    keep_stored: bool = False
    """Keep the JSON of pages flushed to batches, to copy into the result JSON (whole jobs)."""
    pending: list[tuple[PageResult, bytes]] = field(default_factory=list)
    """Pages done since the last batch, with their JSON."""
    stored: list[bytes] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)
    unannounced: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0
    last_flush: float = field(default_factory=time.monotonic)

    def page_done(self, page: PageResult) -> None:
        self.pending.append((page, page.model_dump_json().encode()))
        self.unannounced.append({"number": page.number, "method": page.method})
        self.done += 1
        if page.method == "ocr":
            self.events.append(
                (
                    "page_ocr",
                    {
                        "page": page.number,
                        "reason": page.ocr_reason,
                        "provider": page.ocr_provider,
                        "confidence": page.ocr_confidence,
                        "seconds": page.ocr_seconds,
                        "notes": page.warnings,
                        "worker": self.ctx.owner,
                    },
                )
            )
        elif page.width == 0 and page.warnings:
            self.events.append(("page_unreadable", {"page": page.number, "why": page.warnings}))
        elif page.warnings:  # read, with what could not be (a failed stage, skipped tables)
            self.events.append(("page_warnings", {"page": page.number, "warnings": page.warnings}))
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def store_images(self, images: dict[str, bytes]) -> None:
        """Store extracted images under the attempt (named by content: writing one twice, as
        two chunks may, writes the same bytes)."""
        for name, data in images.items():
            self.ctx.blobs.put(results.image_key(self.job_id, self.results_attempt, name), data)

    @property
    def pending_json(self) -> list[bytes]:
        return [line for _, line in self.pending]

    def take_written(
        self, batch: str, spans: Sequence[tuple[int, int]]
    ) -> tuple[list[PageRecord], list[EventDraft]]:
        """The index rows of the pending pages, written to ``batch`` at ``spans``, and the
        pending events; both are handed over for a commit."""
        records = [
            PageRecord(
                number=page.number,
                attempt=self.results_attempt,
                method=page.method,
                chars=len(page.text),
                tables=len(page.tables),
                batch=batch,
                offset=offset,
                length=length,
                ocr_provider=page.ocr_provider,
                ocr_confidence=page.ocr_confidence,
            )
            for (page, _), (offset, length) in zip(self.pending, spans, strict=True)
        ]
        taken = records, self.events
        self.pending, self.events = [], []
        return taken

    def take(self, *, store: bool = True) -> tuple[list[PageRecord], list[EventDraft]]:
        """The pending pages' rows, as a batch of their own, and the pending events. The batch
        is stored first (before its rows are committed), unless ``store`` is false: the
        attempt is ending without results."""
        if not self.pending:
            return self.take_written("", [])
        lines = self.pending_json
        data, spans = results.json_lines(lines)
        name = results.page_batch_name(self.pending[0][0].number)
        if store:
            self.ctx.blobs.put(results.result_key(self.job_id, self.results_attempt, name), data)
            if self.keep_stored:
                self.stored += lines
        return self.take_written(name, spans)

    def flush(self) -> None:
        page_records, events = self.take()
        if not self.commit(page_records, events):
            raise LeaseLost
        self.last_flush = time.monotonic()
        self.announce()

    def announce(self) -> None:
        """Tell live listeners which pages finished since the last announcement."""
        if self.notify is not None and self.unannounced:
            self.notify("pages", {"job_id": self.job_id, "pages": self.unannounced})
        self.unannounced = []


@contextlib.contextmanager
def _input_file(
    ctx: WorkerContext, record: JobRecord, events: list[EventDraft] | None = None
) -> Iterator[Path]:
    """A local path to the job's PDF: its input, or for an image or office document the PDF
    converted from it (converted once per job and kept with its files, so chunks, retries
    and the layout preview reuse it; ``events`` gets a ``converted`` event when it is made)."""
    try:
        if record.input_type == InputType.PDF:
            with ctx.blobs.local_file(results.input_key(record.id)) as path:
                yield path
            return
        converted = results.converted_key(record.id)
        if ctx.blobs.exists(converted):
            with ctx.blobs.local_file(converted) as path:
                yield path
            return
        with (
            ctx.blobs.local_file(results.input_key(record.id)) as source,
            tempfile.TemporaryDirectory(prefix=scratch.prefix("convert")) as folder,
        ):
            target = Path(folder) / "converted.pdf"
            done = convert.to_pdf(source, target, record.input_type, ctx.convert_limits)
            put_file(ctx.blobs, converted, target)
            if events is not None:
                data = {"from": done.source.value, "by": done.converter, "seconds": done.seconds}
                events.append(("converted", data))
            yield target
    except FileNotFoundError as exc:
        raise InputMissing from exc


def _open(ctx: WorkerContext, record: JobRecord, path: Path, *, scan: bool = True) -> Document:
    password = ctx.secrets.decrypt(record.secret) if record.secret else None
    if record.secret and password is None:
        raise Encrypted(
            "the job's password cannot be decrypted here: every API and worker host must "
            "share the same PDFQ_SECRET_KEY"
        )
    return Document(
        path,
        options=record.options,
        password=password,
        limits=ctx.limits,
        scan=scan,
        ocr=ctx.ocr,
    )


def _extract_pages(
    doc: Document, numbers: Sequence[int], control: JobControl, progress: _Progress
) -> list[PageResult]:
    extracted = []
    control.check()
    for page in doc.extract_pages(numbers):
        extracted.append(page)
        progress.store_images(doc.take_images())  # before the page that shows them
        progress.page_done(page)
        control.check()
    doc.check_readable(extracted)
    return extracted


def _split(numbers: Sequence[int], size: int) -> list[tuple[int, int]]:
    """Consecutive runs of ``size`` selected pages, as (first page, last page)."""
    return [
        (numbers[i], numbers[min(i + size, len(numbers)) - 1]) for i in range(0, len(numbers), size)
    ]


def split_by_ocr(numbers: Sequence[int], ocr: set[int], size: int) -> list[tuple[int, int]]:
    """Consecutive runs holding ``size`` OCR pages each (text pages, which cost next to
    nothing, ride along), as (first page, last page)."""
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    count = 0
    for number in numbers:
        start = number if start is None else start
        count += number in ocr
        if count == size:
            ranges.append((start, number))
            start, count = None, 0
    if start is not None:
        if count == 0 and ranges:  # only text pages left: they join the last chunk
            ranges[-1] = (ranges[-1][0], numbers[-1])
        else:
            ranges.append((start, numbers[-1]))
    return ranges


def _chunk_ranges(ctx: WorkerContext, doc: Document) -> list[tuple[int, int]] | None:
    """How to split the document across workers, or ``None`` to run it here."""
    numbers = doc.page_numbers
    settings = ctx.settings
    if settings.fanout_pages and len(numbers) > settings.fanout_pages:
        return _split(numbers, settings.fanout_chunk_pages)
    if settings.ocr_chunk_pages and doc.options.ocr != OcrMode.NEVER:
        ocr = doc.ocr_pages(numbers)
        per_chunk = max(settings.ocr_chunk_pages, ctx.ocr.batch_size)  # keep batches whole
        if len(ocr) > per_chunk:
            return split_by_ocr(numbers, set(ocr), per_chunk)
    return None


def _discard(ctx: WorkerContext, job_id: str, attempt: int) -> None:
    # The attempt is over (it stopped as told, lost its job, or failed): removing its files
    # may take a while on S3, and nothing is left to renew or to stop.
    ctx.leases.release()
    try:
        ctx.blobs.delete_prefix(results.attempt_prefix(job_id, attempt))
    except Exception as exc:  # leftovers are harmless: nothing points at them
        log.warning("could not remove discarded results", error=str(exc))


def _published(ctx: WorkerContext, claim: Claim) -> bool:
    """Whether this attempt's result is the job's published one although its finish raised:
    a connection lost after the finish was sent leaves its outcome unknown (the database may
    have committed it, and on PostgreSQL the finish is one statement that commits even when
    the reply is lost), so the attempt's files must not be discarded on the error alone.
    Raises a :class:`~pdfq.errors.TransientError` while the store cannot say: the attempt's
    files are then kept and it runs again later (a no-op if the finish had landed)."""
    record = repo.get_job(ctx.db, job_id=claim.job_id)
    return (
        record is not None
        and record.status == JobStatus.SUCCEEDED
        and record.result_attempt == claim.attempt
    )


def _fail_job(
    ctx: WorkerContext, record: JobRecord, error: JobError, events: Sequence[EventDraft] = ()
) -> Outcome:
    ok = repo.finish(
        ctx.db,
        job_id=record.id,
        attempt=record.attempts,
        error=error,
        events=events,
        has_webhook=record.webhook_url is not None,
    )
    _discard(ctx, record.id, record.attempts)
    return Outcome(record.id, JobStatus.FAILED if ok else None, error)


def _error_of(exc: Exception) -> JobError:
    if isinstance(exc, PdfqError):
        return JobError(code=exc.code, message=exc.message)
    log.exception("job crashed")
    return JobError(
        code=ErrorCode.INTERNAL, message=f"unexpected error: {type(exc).__name__}: {exc}"[:500]
    )


def backoff_seconds(attempt: int) -> float:
    """Delay before retrying after a transient failure: exponential, capped, with jitter."""
    return min(60.0, 2.0**attempt) * (0.5 + random.random() / 2)


# --- a whole job ----------------------------------------------------------------------------


def _run_whole(
    ctx: WorkerContext, record: JobRecord, control: JobControl, notify: Notify | None
) -> Outcome:
    claim = control.claim

    def commit(page_records: Sequence[PageRecord], events: Sequence[EventDraft]) -> bool:
        return repo.record_progress(
            ctx.db,
            job_id=claim.job_id,
            attempt=claim.attempt,
            pages_total=state["pages_total"],
            findings=state.pop("findings", None),
            page_records=page_records,
            events=events,
        )

    state: dict[str, Any] = {"pages_total": None}
    progress = _Progress(ctx, claim.job_id, claim.attempt, commit, notify, keep_stored=True)
    started = time.monotonic()
    try:
        with (
            _input_file(ctx, record, progress.events) as path,
            _open(ctx, record, path) as doc,
        ):
            state["pages_total"] = len(doc.page_numbers)
            state["findings"] = doc.findings
            progress.events.append(("scanned", {"findings": doc.findings, "pages": doc.page_count}))
            ranges = _chunk_ranges(ctx, doc)
            if ranges is not None:
                return _fan_out(ctx, record, doc, ranges, progress, state)
            pages = _extract_pages(doc, doc.page_numbers, control, progress)
            document = assemble(
                job_id=record.id,
                filename=record.filename,
                page_count=doc.page_count,
                metadata=doc.metadata,
                pages=pages,
            )
        # The pages not flushed yet are stored once, inside the result JSON.
        index, spans = results.write_result(
            ctx.blobs,
            job_id=record.id,
            attempt=claim.attempt,
            result=document,
            copied=progress.stored,
            own=progress.pending_json,
        )
        page_records, events = progress.take_written(results.RESULT, spans)
        seconds = round(time.monotonic() - started, 3)
        events.append(("extracted", {"pages": len(pages), "seconds": seconds}))
        ok = repo.finish(
            ctx.db,
            job_id=claim.job_id,
            attempt=claim.attempt,
            result_index=index,
            pages_total=state["pages_total"],
            findings=state.get("findings"),
            page_records=page_records,
            events=events,
            data={"pages": len(pages)},
            has_webhook=record.webhook_url is not None,
        )
    except Canceled:
        _discard(ctx, claim.job_id, claim.attempt)
        return Outcome(claim.job_id, JobStatus.CANCELED)
    except LeaseLost:
        _discard(ctx, claim.job_id, claim.attempt)
        return Outcome(claim.job_id, None)
    except TransientError as exc:
        log.warning("job hit a transient error", code=exc.code.value, reason=exc.message)
        if _published(ctx, claim):
            return Outcome(claim.job_id, JobStatus.SUCCEEDED)
        # Given back first: the attempt's lease is renewed until then, however long removing
        # its files takes on a storage that is failing.
        outcome = retry_later(ctx, claim, exc.message, exc.code)
        _discard(ctx, claim.job_id, claim.attempt)
        return outcome
    except Exception as exc:  # input errors, time-outs, and anything a document can cause
        error = _error_of(exc)
        if isinstance(exc, InputError | ProcessingError):
            log.info("job failed", code=error.code.value, reason=error.message)
        page_records, events = progress.take(store=False)
        ok = repo.finish(
            ctx.db,
            job_id=claim.job_id,
            attempt=claim.attempt,
            error=error,
            pages_total=state["pages_total"],
            findings=state.get("findings"),
            page_records=page_records,
            events=events,
            has_webhook=record.webhook_url is not None,
        )
        _discard(ctx, claim.job_id, claim.attempt)
        return Outcome(claim.job_id, JobStatus.FAILED if ok else None, error)
    if not ok:
        _discard(ctx, claim.job_id, claim.attempt)
        return Outcome(claim.job_id, None)
    progress.announce()
    log.info("job succeeded", pages=len(pages))
    return Outcome(claim.job_id, JobStatus.SUCCEEDED)


def _fan_out(
    ctx: WorkerContext,
    record: JobRecord,
    doc: Document,
    ranges: list[tuple[int, int]],
    progress: _Progress,
    state: dict[str, Any],
) -> Outcome:
    info = {"page_count": doc.page_count, "metadata": doc.metadata.model_dump(mode="json")}
    key = results.result_key(record.id, record.attempts, DOCUMENT_INFO)
    ctx.blobs.put(key, json.dumps(info).encode())
    if not chunk_repo.fan_out(
        ctx.db,
        job_id=record.id,
        attempt=record.attempts,
        ranges=ranges,
        pages_total=state["pages_total"],
        findings=state.get("findings"),
        events=progress.events,
    ):
        raise LeaseLost
    ctx.leases.release()  # the job has no lease of its own now: each chunk will
    for number in range(len(ranges)):
        ctx.enqueue(record.id, number, 0.0)
    log.info("job fanned out", chunks=len(ranges), pages=state["pages_total"])
    return Outcome(record.id, JobStatus.RUNNING)


# --- one chunk of a fanned-out job ----------------------------------------------------------


def _run_chunk(
    ctx: WorkerContext, record: JobRecord, control: JobControl, notify: Notify | None
) -> Outcome:
    claim = control.claim
    assert claim.pages is not None
    first, last = claim.pages

    def commit(page_records: Sequence[PageRecord], events: Sequence[EventDraft]) -> bool:
        return chunk_repo.record_chunk_progress(
            ctx.db, claim=claim, page_records=page_records, events=events
        )

    progress = _Progress(ctx, claim.job_id, record.attempts, commit, notify)
    try:
        with _input_file(ctx, record) as path, _open(ctx, record, path, scan=False) as doc:
            numbers = [n for n in doc.page_numbers if first <= n <= last]
            _extract_pages(doc, numbers, control, progress)
        page_records, events = progress.take()
        last_chunk = chunk_repo.finish_chunk(
            ctx.db,
            claim=claim,
            owner=ctx.owner,
            lease_seconds=ctx.settings.lease_seconds,
            page_records=page_records,
            events=events,
        )
    except Canceled:
        return Outcome(claim.job_id, JobStatus.CANCELED)
    except LeaseLost:
        return Outcome(claim.job_id, None)
    except TransientError as exc:
        log.warning("chunk hit a transient error", chunk=claim.chunk, reason=exc.message)
        return retry_later(ctx, claim, exc.message, exc.code)
    except Exception as exc:
        return _fail_job(ctx, record, _error_of(exc), progress.events)
    if last_chunk is None:
        return Outcome(claim.job_id, None)
    progress.announce()
    if not last_chunk:
        return Outcome(claim.job_id, JobStatus.RUNNING)
    whole = Claim(job_id=record.id, attempt=record.attempts, record=record)
    # The job's lease (taken by finish_chunk) is renewed while it merges, and the watchdog's
    # limits now give back the job, not the finished chunk.
    with ctx.leases.hold(ctx.control_for(whole)):
        try:
            return _merge(ctx, record)
        except TransientError as exc:
            # The whole job goes back: its new attempt starts over (its files are per attempt).
            return retry_later(ctx, whole, f"merging failed: {exc.message}", exc.code)
        except Exception as exc:
            return _fail_job(ctx, record, _error_of(exc))


def retry_later(
    ctx: WorkerContext,
    claim: Claim,
    reason: str,
    final_code: ErrorCode,
    *,
    owner: str | None = None,
) -> Outcome:
    """After a transient failure: re-queue the job or chunk with a back-off, or fail the job
    once its attempts are used up (with ``owner``: only while that process holds its lease)."""
    delay = backoff_seconds(claim.attempt)
    ctx.leases.release()
    status, requeued = give_back(
        ctx.db,
        claim,
        reason=reason,
        max_attempts=ctx.settings.max_attempts,
        final_code=final_code,
        delay_seconds=delay,
        owner=owner,
    )
    if requeued:
        ctx.enqueue(claim.job_id, claim.chunk, delay)
    elif status == JobStatus.FAILED and claim.record is not None:
        _discard(ctx, claim.job_id, claim.record.attempts)
    return Outcome(claim.job_id, status)


def give_back_after_store_failure(
    ctx: WorkerContext, claim: Claim, owner: str | None = None
) -> Outcome:
    """For an attempt the store failed mid-way, so that it could be neither finished nor given
    back then (the queue retries it later): give it back now, as a transient failure is when
    the store answers. It is not run again in place: its page rows and files may be half
    there. A no-op when the attempt's finish landed after all, or its work moved on (canceled,
    swept after its lease ran out, or, when ``owner`` names the process that ran it, taken by
    another after a graceful hand-back, which reuses the attempt's number)."""
    record = repo.get_job(ctx.db, job_id=claim.job_id)
    if record is None:
        return Outcome(claim.job_id, None)
    if claim.chunk is None and (
        record.status != JobStatus.RUNNING
        or record.attempts != claim.attempt
        or (owner is not None and record.lease_owner != owner)
    ):
        return Outcome(claim.job_id, None)
    reason = "the store could not record the attempt"
    outcome = retry_later(
        ctx, replace(claim, record=record), reason, ErrorCode.UNAVAILABLE, owner=owner
    )
    if claim.chunk is None and outcome.status is not None:  # given back: its files are waste
        _discard(ctx, claim.job_id, claim.attempt)
    return outcome


def _merge(ctx: WorkerContext, record: JobRecord) -> Outcome:
    """Assemble a fanned-out job from its stored pages and finish it."""
    attempt = record.attempts
    info = json.loads(ctx.blobs.get(results.result_key(record.id, attempt, DOCUMENT_INFO)))
    stored = repo.list_pages(ctx.db, job_id=record.id)
    found: dict[int, tuple[PageResult, bytes]] = {}
    for batch in dict.fromkeys(p.batch for p in stored):  # each batch file read once
        data = ctx.blobs.get(results.result_key(record.id, attempt, batch))
        for line in data.splitlines():
            if line:
                page = PageResult.model_validate_json(line)
                found[page.number] = page, line
    kept = [found[p.number] for p in sorted(stored, key=lambda p: p.number) if p.number in found]
    pages = [page for page, _ in kept]
    document = assemble(
        job_id=record.id,
        filename=record.filename,
        page_count=info["page_count"],
        metadata=Metadata.model_validate(info["metadata"]),
        pages=pages,
    )
    index, _ = results.write_result(
        ctx.blobs,
        job_id=record.id,
        attempt=attempt,
        result=document,
        copied=[line for _, line in kept],
        own=[],
    )
    ok = repo.finish(
        ctx.db,
        job_id=record.id,
        attempt=attempt,
        result_index=index,
        events=[("merged", {"pages": len(pages), "chunks": record.chunks_total})],
        data={"pages": len(pages)},
        has_webhook=record.webhook_url is not None,
    )
    if not ok:
        return Outcome(record.id, None)
    log.info("job succeeded", pages=len(pages), chunks=record.chunks_total)
    return Outcome(record.id, JobStatus.SUCCEEDED)


# --- entry points ---------------------------------------------------------------------------


def process_job(
    ctx: WorkerContext,
    claim: Claim,
    *,
    control: JobControl | None = None,
    notify: Notify | None = None,
) -> Outcome:
    """Run a claimed attempt (of a job or of a chunk) to its end.

    Never raises for anything a document can cause; raises a
    :class:`~pdfq.errors.TransientError` only when the store itself cannot record the outcome
    (the lease then runs out and the sweeper gives the work back).
    """
    control = control or ctx.control_for(claim)
    record = claim.record or repo.get_job(ctx.db, job_id=claim.job_id)
    if record is None or record.status != JobStatus.RUNNING:
        return Outcome(claim.job_id, None)
    if claim.chunk is None and record.attempts != claim.attempt:
        return Outcome(claim.job_id, None)
    bound = structlog.contextvars.bound_contextvars(
        job_id=claim.job_id, tenant=record.tenant, attempt=record.attempts, chunk=claim.chunk
    )
    span = tracing.work_span(
        "pdfq.job" if claim.chunk is None else "pdfq.chunk",
        record.trace_context,
        {
            "pdfq.job_id": claim.job_id,
            "pdfq.tenant": record.tenant,
            "pdfq.attempt": record.attempts,
            "pdfq.chunk": claim.chunk,
        },
    )
    with bound, span, ctx.leases.hold(control):
        if claim.chunk is not None:
            return _run_chunk(ctx, record, control, notify)
        return _run_whole(ctx, record, control, notify)


def run_job(ctx: WorkerContext, job_id: str, *, notify: Notify | None = None) -> Outcome:
    """Claim a queued job by id and run it; a no-op if someone else has it or it has ended."""
    claim = repo.claim(
        ctx.db, job_id=job_id, owner=ctx.owner, lease_seconds=ctx.settings.lease_seconds
    )
    if claim is None:
        return Outcome(job_id, None)
    return process_job(ctx, claim, notify=notify)


def run_chunk(
    ctx: WorkerContext, job_id: str, number: int, *, notify: Notify | None = None
) -> Outcome:
    """Claim a queued chunk by its job and number and run it; a no-op otherwise."""
    claim = chunk_repo.claim_chunk(
        ctx.db,
        job_id=job_id,
        number=number,
        owner=ctx.owner,
        lease_seconds=ctx.settings.lease_seconds,
    )
    if claim is None:
        return Outcome(job_id, None)
    return process_job(ctx, claim, notify=notify)
