"""Job routes: submit, read (with a long poll), list, cancel, retry and delete."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from pdfq import results
from pdfq.api.deps import ReaderDep, ServicesDep, SubmitterDep
from pdfq.api.events import may_have_ended
from pdfq.api.intake import admit, check_capacity, new_job, parse_options
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.api.upload import UploadResult, receive_upload
from pdfq.blobs import BlobWriter
from pdfq.domain import Job, JobPage, JobStatus, new_id
from pdfq.errors import Conflict, Expired, NotFound
from pdfq.store import jobs as repo
from pdfq.store.jobs import JobRecord, NewJob
from pdfq.store.notify import ended_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

OPTION_SCHEMA: dict[str, Any] = {
    # An empty field means the default (as an HTML form sends an unset field).
    "ocr": {"type": "string", "enum": ["auto", "always", "never", ""]},
    "languages": {"type": "string", "example": "eng+deu"},
    "pages": {"type": "string", "example": "1-5,8"},
    "password": {"type": "string", "writeOnly": True, "description": "Never stored or shown."},
    "webhook_url": {"type": "string", "format": "uri"},
    "priority": {"type": "integer", "minimum": -10, "maximum": 10},
    "dedupe": {"type": "boolean", "default": True},
}


def upload_body(file_schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI description of a multipart upload: the file part(s) and the options."""
    schema = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": file_schema, **OPTION_SCHEMA},
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


SUBMIT_BODY = upload_body({"type": "string", "format": "binary"})


def job_response(
    job: Job, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        job.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def load_job(services: Services, job_id: str, tenant: str) -> JobRecord:
    if services.db.is_sqlite:
        # One indexed read of a local file that never waits for writers (WAL): cheaper on the
        # loop than the two thread hand-offs a worker thread would cost under load.
        record = repo.get_job(services.db, job_id=job_id, tenant=tenant)
    else:
        record = await blocking(repo.get_job, services.db, job_id=job_id, tenant=tenant)
    if record is None:
        raise NotFound(f"no job {job_id}")
    return record


def gone(record: JobRecord) -> Expired:
    """The 410 answer for a job whose files retention removed."""
    if record.expired_at is not None:
        when, what = record.expired_at, "its results and input file were"
    else:
        assert record.input_removed_at is not None
        when, what = record.input_removed_at, "its input file was"
    return Expired(
        f"job {record.id} ended on {record.finished_at:%Y-%m-%d %H:%M} UTC; {what} removed on "
        f"{when:%Y-%m-%d %H:%M} UTC after the server's retention period"
    )


def _replayed(record: JobRecord) -> Response:
    headers = {"Location": f"/v1/jobs/{record.id}", "Idempotent-Replayed": "true"}
    return job_response(record.to_job(), 202, headers)


@router.post(
    "",
    status_code=202,
    response_model=Job,
    openapi_extra=SUBMIT_BODY,
    summary="Submit a PDF",
    responses={
        400: {"description": "empty file or invalid options"},
        413: {"description": "file too large"},
        415: {"description": "not a PDF"},
        429: {"description": "queue full (see Retry-After)"},
    },
)
async def submit_job(
    request: Request,
    services: ServicesDep,
    principal: SubmitterDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Stream the upload to storage, record a queued job and answer at once with its id."""
    db = services.db
    if idempotency_key:
        first = await blocking(
            repo.find_by_idempotency_key, db, tenant=principal.tenant, key=idempotency_key
        )
        if first is not None:
            return _replayed(first)
    await check_capacity(services, principal.tenant)

    job_id = new_id()

    def new_writer(_filename: str) -> tuple[str, BlobWriter]:
        key = results.input_key(job_id)
        return key, services.blobs.writer(key)

    upload: UploadResult | None = None
    try:
        # Inside: a file stored before the upload went wrong (a second file part, the
        # client gone) is removed with the rest. The file's last bytes (all of a small one)
        # are written and committed in the same thread hop as the job's creation.
        upload = await receive_upload(
            request,
            new_writer=new_writer,
            max_file_bytes=services.settings.max_file_bytes,
            accepted=services.settings.accepted_inputs,
            store=False,
        )
        part = upload.files[0]
        options, password = parse_options(upload.fields)
        new = new_job(
            services,
            part,
            job_id=job_id,
            tenant=principal.tenant,
            options=options,
            secret=services.secrets.encrypt(password) if password else None,
            idempotency_key=idempotency_key,
        )
        if services.queue.announces_ends:  # marked before its end can be notified
            services.events.expect_end(job_id, principal.tenant)
        record, created = await blocking(_store_and_admit, services, upload, new)
    except BaseException:
        services.events.forget(job_id)
        await blocking(_remove_upload, services, upload, job_id)
        raise
    if record.status.is_terminal or not created:  # answered from an earlier job
        services.events.forget(job_id)
    if not created:  # the same idempotency key raced in: keep the first job only
        await blocking(services.blobs.delete_prefix, job_id)
        return _replayed(record)
    return job_response(record.to_job(), 202, {"Location": f"/v1/jobs/{job_id}"})


def _store_and_admit(
    services: Services, upload: UploadResult, new: NewJob
) -> tuple[JobRecord, bool]:
    upload.store()
    return admit(services, new)


def _remove_upload(services: Services, upload: UploadResult | None, job_id: str) -> None:
    if upload is not None:
        upload.discard()
    services.blobs.delete_prefix(job_id)


@router.get("", response_model=JobPage, summary="List jobs, newest first")
async def list_jobs(
    services: ServicesDep,
    principal: ReaderDep,
    status: JobStatus | None = None,
    batch: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> JobPage:
    records, next_cursor = await blocking(
        repo.list_jobs,
        services.db,
        tenant=principal.tenant,
        status=status,
        batch_id=batch,
        limit=limit,
        cursor=cursor,
    )
    return JobPage(items=[r.to_job() for r in records], next_cursor=next_cursor)


@router.get("/{job_id}", response_model=Job, summary="Get a job", responses={404: {}})
async def get_job(
    job_id: str,
    services: ServicesDep,
    principal: ReaderDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=60,
            description="Long poll: hold the answer up to this many seconds until the job ends.",
        ),
    ] = 0,
) -> Response:
    if not wait:
        return job_response((await load_job(services, job_id, principal.tenant)).to_job())
    deadline = time.monotonic() + wait
    tenant = principal.tenant
    # Subscribe before reading, so an end between the read and the wait is not missed.
    async with services.events.subscribe(job_id) as subscription:
        # A job created here moments ago with no end seen since is not worth reading yet.
        record = (
            None
            if services.events.not_ended(job_id, tenant)
            else await load_job(services, job_id, tenant)
        )
        while record is None or not record.status.is_terminal:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # A lost notification (another API process, a restart) costs at most a second.
            note = await subscription.get(min(remaining, 1.0))
            if note is None or may_have_ended(note):
                ended = ended_job(note[1]) if note is not None else None
                if ended is not None and ended[0] == tenant:
                    return job_response(ended[1])  # as the ending statement left it
                record = await load_job(services, job_id, tenant)
    if record is None:  # still running when the wait ran out
        record = await load_job(services, job_id, tenant)
    return job_response(record.to_job())


@router.post(
    "/{job_id}/cancel", response_model=Job, summary="Cancel a job", responses={404: {}, 409: {}}
)
async def cancel_job(job_id: str, services: ServicesDep, principal: SubmitterDep) -> Response:
    return await blocking(_cancel, services, job_id, principal.tenant)


def _cancel(services: Services, job_id: str, tenant: str) -> Response:
    record, before = repo.cancel(services.db, job_id=job_id, tenant=tenant)
    if record is None:
        raise NotFound(f"no job {job_id}")
    if before in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise Conflict(f"the job already {before.value}")
    if before == JobStatus.RUNNING:
        services.queue.cancel(job_id)
    services.events.publish("job", {"job_id": job_id, "status": record.status.value})
    return job_response(record.to_job())


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=Job,
    summary="Run a failed or canceled job again",
    responses={404: {}, 409: {}, 410: {"description": "its input file was removed"}},
)
async def retry_job(job_id: str, services: ServicesDep, principal: SubmitterDep) -> Response:
    return await blocking(_retry, services, job_id, principal.tenant)


def _retry(services: Services, job_id: str, tenant: str) -> Response:
    record = repo.retry(services.db, job_id=job_id, tenant=tenant)
    if record is None:
        current = repo.get_job(services.db, job_id=job_id, tenant=tenant)
        if current is None:
            raise NotFound(f"no job {job_id}")
        if current.input_removed_at is not None or current.expired_at is not None:
            raise gone(current)
        raise Conflict(
            f"only failed or canceled jobs can be retried; this one is {current.status.value}"
        )
    services.queue.enqueue(job_id, priority=record.priority)
    services.events.publish("job", {"job_id": job_id, "status": record.status.value})
    return job_response(record.to_job(), 202)


@router.delete(
    "/{job_id}", status_code=204, summary="Delete a job and its files", responses={404: {}}
)
async def delete_job(job_id: str, services: ServicesDep, principal: SubmitterDep) -> Response:
    return await blocking(_delete, services, job_id, principal.tenant)


def _delete(services: Services, job_id: str, tenant: str) -> Response:
    record, before = repo.cancel(services.db, job_id=job_id, tenant=tenant)
    if record is None:
        raise NotFound(f"no job {job_id}")
    if before == JobStatus.RUNNING:
        services.queue.cancel(job_id)
    # Files first: if storage refuses (down, or keeping some files), the answer is 503 and
    # the job is still there to delete again, instead of files nobody can reach any more.
    services.blobs.delete_prefix(job_id)
    repo.delete_job(services.db, job_id=job_id)
    services.events.publish("job", {"job_id": job_id, "status": None})
    return Response(status_code=204)
