"""Turning stored uploads into jobs: options, back-pressure, deduplication and enqueueing.

Shared by single uploads (``POST /v1/jobs``) and batches (``POST /v1/batches``). The
functions that touch the store or the queue block; call them through ``blocking``.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from pdfq import results, tracing
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.api.upload import FilePart
from pdfq.domain import Options, RejectedFile
from pdfq.errors import InvalidOptions, PdfqError, QueueFull, QuotaExceeded
from pdfq.notify.addresses import check_url
from pdfq.store import batches as batch_repo
from pdfq.store import dedupe
from pdfq.store import jobs as repo
from pdfq.store.batches import BatchRecord
from pdfq.store.jobs import JobRecord, NewJob

log = structlog.get_logger(__name__)

OPTION_FIELDS = frozenset(Options.model_fields)
SECRET_FIELDS = frozenset({"password"})


def parse_options(fields: dict[str, str]) -> tuple[Options, str | None]:
    """Form fields → job options and the (secret) password. Raises InvalidOptions."""
    unknown = set(fields) - OPTION_FIELDS - SECRET_FIELDS
    if unknown:
        raise InvalidOptions(f"unknown field(s): {', '.join(sorted(unknown))}")
    password = fields.get("password") or None
    data = {k: v for k, v in fields.items() if k in OPTION_FIELDS and v.strip() != ""}
    try:
        return Options.model_validate(data), password
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidOptions(problems) from exc


async def check_capacity(services: Services, tenant: str, adding: int = 1) -> None:
    """Refuse with 429 when the queue, or the tenant's share of it, cannot take ``adding``
    more jobs."""
    quota = services.settings.tenant_max_queued
    if quota:
        queued = await blocking(repo.count_queued, services.db, tenant=tenant)
        if queued + adding > quota:
            raise QuotaExceeded(
                f"this tenant has {queued} jobs waiting (at most {quota}); try again when "
                "some have started",
                retry_after=5,
                limit="tenant_max_queued",
            )
    depth = await services.queue_depth()
    ceiling = services.settings.max_queued_jobs
    if depth + adding > ceiling:
        raise QueueFull(
            f"{depth} jobs are waiting (at most {ceiling}); try again shortly",
            retry_after=5,
            limit="max_queued_jobs",
        )


def webhook_for(services: Services, options: Options) -> str | None:
    """The job's webhook: its own (refused when it points at a private or local host, unless
    allowed), else the server's default."""
    if options.webhook_url:
        try:
            check_url(options.webhook_url, allow_private=services.settings.webhook_allow_private)
        except ValueError as exc:
            raise InvalidOptions(str(exc)) from exc
        return options.webhook_url
    return services.settings.webhook_url or None


def new_job(
    services: Services,
    part: FilePart,
    *,
    job_id: str,
    tenant: str,
    options: Options,
    secret: bytes | None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
) -> NewJob:
    """The job of one stored upload."""
    return NewJob(
        id=job_id,
        tenant=tenant,
        filename=part.filename,
        size_bytes=part.size,
        sha256=part.sha256,
        input_type=part.input_type,
        options=options,
        secret=secret,
        idempotency_key=idempotency_key,
        batch_id=batch_id,
        webhook_url=webhook_for(services, options),
        trace_context=tracing.carrier(),
    )


def admit(services: Services, new: NewJob) -> tuple[JobRecord, bool]:
    """Create the job: answered at once from an identical earlier job when deduplication
    allows, else queued. Returns ``(record, created)``; ``created`` is ``False`` when the
    idempotency key was already used (the record is then the first job)."""
    source = _reusable(services, new)
    if source is not None:
        return dedupe.create_reused(services.db, new=new, source=source)
    record, created = repo.create_job(services.db, new=new)
    if created:
        services.queue.enqueue(record.id, priority=record.priority)
    return record, created


def admit_batch(
    services: Services,
    *,
    batch_id: str,
    tenant: str,
    news: Sequence[NewJob],
    rejected: Sequence[RejectedFile],
) -> tuple[BatchRecord, list[JobRecord]]:
    """Create a batch and its jobs (queued, or answered at once when deduplicated), in the
    order of ``news``."""
    sources = {new.id: _reusable(services, new) for new in news}
    batch, created = batch_repo.create_batch(
        services.db,
        batch_id=batch_id,
        tenant=tenant,
        new_jobs=[new for new in news if sources[new.id] is None],
        rejected=rejected,
    )
    for record in created:
        services.queue.enqueue(record.id, priority=record.priority)
    by_id = {record.id: record for record in created}
    for new in news:
        if (source := sources[new.id]) is not None:
            by_id[new.id] = dedupe.create_reused(services.db, new=new, source=source)[0]
    return batch, [by_id[new.id] for new in news]


def _reusable(services: Services, new: NewJob) -> JobRecord | None:
    """The earlier job whose result ``new`` can reuse, its files already copied under
    ``new``; ``None`` when the file must be read."""
    if not (services.settings.dedupe and new.options.dedupe):
        return None
    source = dedupe.find_reusable(
        services.db, tenant=new.tenant, sha256=new.sha256, options=new.options
    )
    if source is None or source.result_attempt is None:
        return None
    target = results.attempt_prefix(new.id, dedupe.REUSED_ATTEMPT)
    try:
        copied = results.copy_result(
            services.blobs,
            source=source.id,
            attempt=source.result_attempt,
            target=new.id,
            as_attempt=dedupe.REUSED_ATTEMPT,
        )
    except PdfqError as exc:  # read the file again rather than fail the upload
        log.warning("could not reuse an earlier result", source=source.id, error=exc.message)
        services.blobs.delete_prefix(target)
        return None
    return source if copied else None  # nothing copied: the earlier job was deleted meanwhile
