"""Batch routes: many files in one request, one job each, and a summary of them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pdfq import results
from pdfq.api.deps import ReaderDep, ServicesDep, SubmitterDep
from pdfq.api.errors import HTTP_STATUS, error_body
from pdfq.api.intake import admit_batch, check_capacity, new_job, parse_options
from pdfq.api.routes.jobs import upload_body
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.api.upload import FilePart, receive_upload
from pdfq.blobs import BlobWriter
from pdfq.domain import Batch, ErrorCode, JobError, RejectedFile, new_id
from pdfq.errors import NotFound
from pdfq.store import batches as batch_repo
from pdfq.store.batches import BatchRecord

router = APIRouter(prefix="/v1/batches", tags=["batches"])

BATCH_BODY = upload_body(
    {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "One part per file, each named `file` (or `files`).",
    }
)


def batch_summary(services: Services, batch: BatchRecord) -> Batch:
    """The batch with its jobs and their counts per status (blocking)."""
    counts = batch_repo.status_counts(services.db, batch_id=batch.id)
    counts["rejected"] = len(batch.rejected)
    records = batch_repo.batch_jobs(services.db, batch_id=batch.id)
    return Batch(
        id=batch.id,
        created_at=batch.created_at,
        counts=counts,
        jobs=[r.to_job() for r in records],
        rejected=batch.rejected,
    )


async def load_batch(services: Services, batch_id: str, tenant: str) -> BatchRecord:
    batch = await blocking(batch_repo.get_batch, services.db, batch_id=batch_id, tenant=tenant)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return batch


def _rejected(part: FilePart) -> RejectedFile:
    assert part.error is not None
    error = part.error
    return RejectedFile(
        filename=part.filename,
        status=HTTP_STATUS.get(error.code, 400),
        error=JobError(code=error.code, message=error.message),
    )


@router.post(
    "",
    status_code=202,
    response_model=Batch,
    openapi_extra=BATCH_BODY,
    summary="Submit many files at once",
    responses={
        400: {
            "description": "invalid options, more files than `PDFQ_MAX_BATCH_FILES`, or no "
            "file accepted (then `error.rejected` lists why, file by file)"
        },
        429: {"description": "queue full (see Retry-After)"},
    },
)
async def submit_batch(
    request: Request, services: ServicesDep, principal: SubmitterDep
) -> Response:
    """Stream every file to storage and queue one job per file; a file refused on arrival
    (not a PDF, empty, too large) is listed under `rejected` with its own status and error,
    and the others go ahead. The options apply to every file."""
    settings = services.settings
    await check_capacity(services, principal.tenant)
    batch_id = new_id()
    job_ids: dict[str, str] = {}  # input key → job id

    def new_writer(_filename: str) -> tuple[str, BlobWriter]:
        job_id = new_id()
        key = results.input_key(job_id)
        job_ids[key] = job_id
        return key, services.blobs.writer(key)

    try:
        # Inside: the files stored before the upload went wrong are removed with the rest.
        upload = await receive_upload(
            request,
            new_writer=new_writer,
            max_file_bytes=settings.max_file_bytes,
            accepted=settings.accepted_inputs,
            max_files=settings.max_batch_files,
            lenient=True,
        )
        options, password = parse_options(upload.fields)
        accepted = [part for part in upload.files if part.error is None]
        rejected = [_rejected(part) for part in upload.files if part.error is not None]
        if not accepted:
            body = error_body(
                ErrorCode.INVALID_REQUEST,
                "no file of the batch was accepted",
                rejected=[r.model_dump(mode="json") for r in rejected],
            )
            return JSONResponse(body, status_code=400)
        await check_capacity(services, principal.tenant, len(accepted))
        secret = services.secrets.encrypt(password) if password else None
        news = [
            new_job(
                services,
                part,
                job_id=job_ids[part.key],
                tenant=principal.tenant,
                options=options,
                secret=secret,
                batch_id=batch_id,
            )
            for part in accepted
        ]
        batch, _ = await blocking(
            admit_batch,
            services,
            batch_id=batch_id,
            tenant=principal.tenant,
            news=news,
            rejected=rejected,
        )
    except BaseException:
        for job_id in job_ids.values():
            await blocking(services.blobs.delete_prefix, job_id)
        raise
    summary = await blocking(batch_summary, services, batch)
    return Response(
        summary.model_dump_json(),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"/v1/batches/{batch_id}"},
    )


@router.get("/{batch_id}", response_model=Batch, summary="A batch: counts and jobs")
async def get_batch(batch_id: str, services: ServicesDep, principal: ReaderDep) -> Batch:
    batch = await load_batch(services, batch_id, principal.tenant)
    return await blocking(batch_summary, services, batch)
