"""Result routes: the whole result (JSON, Markdown, text), one page, and the tables.

While a job is queued or running these answer **202** with the job (so a client can poll the
result URL itself); a failed or canceled job answers **409** with its error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from pdfq import results
from pdfq.api.deps import PrincipalDep, ServicesDep
from pdfq.api.errors import error_body
from pdfq.api.routes.jobs import job_response
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.domain import DocumentResult, JobStatus, PageResult
from pdfq.errors import NotFound, StorageError
from pdfq.store import jobs as repo
from pdfq.store.jobs import JobRecord

router = APIRouter(prefix="/v1/jobs", tags=["results"])

_NOT_DONE: dict[int | str, dict[str, Any]] = {
    202: {"description": "not finished yet: the job is returned"},
    404: {"description": "no such job"},
    409: {"description": "the job failed or was canceled: its error is returned"},
}


def _unfinished(record: JobRecord) -> Response | None:
    """The answer for a job that has no result to give, or None when it succeeded."""
    if record.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return job_response(record.to_job(), 202, {"Retry-After": "1"})
    if record.status != JobStatus.SUCCEEDED:
        job = record.to_job()
        code = job.error.code if job.error else "canceled"
        message = job.error.message if job.error else "the job was canceled"
        return JSONResponse(error_body(code, message, job=job.model_dump(mode="json")), 409)
    return None


def _send_blob(
    services: Services, key: str, media_type: str, filename: str | None = None
) -> Response:
    disposition = (
        {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else None
    )
    path = services.blobs.local_path(key)
    if path is not None:
        if not path.exists():
            raise StorageError("the result file is missing from blob storage")
        return FileResponse(path, media_type=media_type, headers=disposition)
    if not services.blobs.exists(key):
        raise StorageError("the result file is missing from blob storage")
    return StreamingResponse(
        iterate_in_threadpool(services.blobs.iter_chunks(key)),
        media_type=media_type,
        headers=disposition,
    )


def _record(services: Services, job_id: str, tenant: str) -> JobRecord:
    record = repo.get_job(services.db, job_id=job_id, tenant=tenant)
    if record is None:
        raise NotFound(f"no job {job_id}")
    return record


@router.get(
    "/{job_id}/result",
    summary="The job's result",
    responses={
        200: {
            "content": {
                "application/json": {"schema": DocumentResult.model_json_schema()},
                "text/markdown": {},
                "text/plain": {},
            }
        },
        **_NOT_DONE,
    },
)
async def get_result(
    job_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    format: Annotated[results.ResultFormat, Query()] = "json",
) -> Response:
    return await blocking(_result, services, job_id, principal.tenant, format)


def _result(
    services: Services, job_id: str, tenant: str, result_format: results.ResultFormat
) -> Response:
    record = _record(services, job_id, tenant)
    if (answer := _unfinished(record)) is not None:
        return answer
    assert record.result_attempt is not None
    name, media_type = results.RESULT_FILES[result_format]
    return _send_blob(services, results.result_key(job_id, record.result_attempt, name), media_type)


@router.get(
    "/{job_id}/pages/{number}",
    summary="One page's result, available as soon as that page is done",
    responses={
        200: {"content": {"application/json": {"schema": PageResult.model_json_schema()}}},
        **_NOT_DONE,
    },
)
async def get_page(
    job_id: str, number: int, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await blocking(_page, services, job_id, principal.tenant, number)


def _page(services: Services, job_id: str, tenant: str, number: int) -> Response:
    record = _record(services, job_id, tenant)
    page = repo.get_page(services.db, job_id=job_id, number=number)
    if page is not None and record.status in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
        key = results.page_batch_key(job_id, page.attempt, page.batch)
        try:
            data = services.blobs.get_range(key, page.offset, page.length)
        except FileNotFoundError as exc:
            raise StorageError("the page's result file is missing from blob storage") from exc
        return Response(data, media_type="application/json")
    if record.status == JobStatus.SUCCEEDED:
        raise NotFound(
            f"page {number} was not processed "
            f"(the job covered {record.pages_total} pages; see options.pages)"
        )
    answer = _unfinished(record)
    assert answer is not None
    return answer


def _send_tables(
    services: Services, job_id: str, tenant: str, name: str, media_type: str, empty: bytes
) -> Response:
    record = _record(services, job_id, tenant)
    if (answer := _unfinished(record)) is not None:
        return answer
    assert record.result_attempt is not None
    key = results.result_key(job_id, record.result_attempt, name)
    filename = f"{job_id}-{name}"
    if not services.blobs.exists(key):  # no table was found: the files are not written
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(empty, media_type=media_type, headers=headers)
    return _send_blob(services, key, media_type, filename)


@router.get("/{job_id}/tables.csv", summary="Every table as one CSV", responses=_NOT_DONE)
async def get_tables_csv(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    return await blocking(
        _send_tables,
        services,
        job_id,
        principal.tenant,
        results.TABLES_CSV,
        "text/csv; charset=utf-8",
        results.EMPTY_TABLES_CSV,
    )


@router.get("/{job_id}/tables.zip", summary="One CSV per table, zipped", responses=_NOT_DONE)
async def get_tables_zip(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    return await blocking(
        _send_tables,
        services,
        job_id,
        principal.tenant,
        results.TABLES_ZIP,
        "application/zip",
        results.empty_tables_zip(),
    )
