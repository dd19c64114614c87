"""Result routes: the whole result (JSON, Markdown, text), one page, and the tables.

While a job is queued or running these answer **202** with the job (so a client can poll the
result URL itself); a failed or canceled job answers **409** with its error.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from pdfq import results
from pdfq.api.deps import ReaderDep, ServicesDep
from pdfq.api.disposition import attachment, inline
from pdfq.api.errors import error_body
from pdfq.api.routes.jobs import gone, job_response
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.domain import DocumentResult, Job, JobStatus, PageResult
from pdfq.errors import NotFound, StorageError
from pdfq.store import jobs as repo
from pdfq.store.jobs import JobRecord

router = APIRouter(prefix="/v1/jobs", tags=["results"])

NOT_DONE: dict[int | str, dict[str, Any]] = {
    202: {"description": "not finished yet: the job is returned", "model": Job},
    404: {"description": "no such job"},
    409: {"description": "the job failed or was canceled: its error is returned"},
    410: {"description": "the job's files were removed after the retention period"},
}


def unfinished(record: JobRecord) -> Response | None:
    """The answer for a job that has no result to give, or None when it succeeded."""
    if record.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return job_response(record.to_job(), 202, {"Retry-After": "1"})
    if record.status != JobStatus.SUCCEEDED:
        job = record.to_job()
        code = job.error.code if job.error else "canceled"
        message = job.error.message if job.error else "the job was canceled"
        return JSONResponse(error_body(code, message, job=job.model_dump(mode="json")), 409)
    return None


SMALL_PART = 1024 * 1024  # smaller parts are read in one go, larger ones streamed
XLSX = "tables.xlsx"


def _workbook(services: Services, record: JobRecord) -> bytes:
    """The tables as a workbook: made from the CSV on first request, then kept."""
    assert record.result_attempt is not None
    assert record.result_index is not None
    key = results.result_key(record.id, record.result_attempt, XLSX)
    try:
        return services.blobs.get(key)
    except FileNotFoundError:
        pass
    offset, length = record.result_index["tables.csv"]
    chunks = services.blobs.iter_chunks(
        results.result_key(record.id, record.result_attempt), offset=offset, length=length
    )
    lines = io.TextIOWrapper(io.BufferedReader(_ChunkReader(chunks)), encoding="utf-8", newline="")
    data = results.tables_xlsx(lines)
    services.blobs.put(key, data)
    return data


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def read_part(services: Services, record: JobRecord, part: str) -> bytes:
    """A part the job's published result always has (its JSON, Markdown, text)."""
    assert record.result_attempt is not None
    assert record.result_index is not None
    try:
        data = results.read_part(
            services.blobs,
            job_id=record.id,
            attempt=record.result_attempt,
            index=record.result_index,
            part=part,
        )
    except FileNotFoundError as exc:
        raise StorageError("the result is missing from blob storage") from exc
    assert data is not None, f"a published result without its {part} part"
    return data


def _send_part(
    services: Services,
    record: JobRecord,
    part: str,
    *,
    disposition: str | None = None,
    empty: Callable[[], bytes] | None = None,
) -> Response:
    """One part of the job's result object (one range read, streamed when large)."""
    headers = {"Content-Disposition": disposition} if disposition else {}
    media_type = results.MEDIA_TYPES[part]
    index = record.result_index or {}
    located = index.get(part)
    if located is None:
        if part == XLSX and "tables.csv" in index:
            return Response(_workbook(services, record), media_type=media_type, headers=headers)
        if part == "markdown-boxes" and "json" in index:  # results from before it existed
            document = DocumentResult.model_validate_json(read_part(services, record, "json"))
            body = results.boxes_markdown(document).encode()
            return Response(body, media_type=media_type, headers=headers)
        if empty is None:
            raise StorageError(f"the job's result has no {part} part")
        return Response(empty(), media_type=media_type, headers=headers)
    assert record.result_attempt is not None
    offset, length = located
    key = results.result_key(record.id, record.result_attempt)
    try:
        if length <= SMALL_PART:
            data = services.blobs.get_range(key, offset, length)
            return Response(data, media_type=media_type, headers=headers)
        if not services.blobs.exists(key):
            raise FileNotFoundError(key)
    except FileNotFoundError as exc:
        raise StorageError("the result is missing from blob storage") from exc
    headers["Content-Length"] = str(length)
    chunks = services.blobs.iter_chunks(key, offset=offset, length=length)
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=media_type, headers=headers)


def job_record(services: Services, job_id: str, tenant: str) -> JobRecord:
    record = repo.get_job(services.db, job_id=job_id, tenant=tenant)
    if record is None:
        raise NotFound(f"no job {job_id}")
    if record.expired_at is not None:
        raise gone(record)
    return record


@router.get(
    "/{job_id}/result",
    summary="The job's result",
    responses={
        200: {
            "content": {
                "application/json": {"schema": DocumentResult.model_json_schema()},
                "text/markdown": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            }
        },
        **NOT_DONE,
    },
)
async def get_result(
    job_id: str,
    services: ServicesDep,
    principal: ReaderDep,
    format: Annotated[results.ResultFormat, Query()] = "json",
) -> Response:
    return await blocking(_result, services, job_id, principal.tenant, format)


def _result(
    services: Services, job_id: str, tenant: str, result_format: results.ResultFormat
) -> Response:
    record = job_record(services, job_id, tenant)
    if (answer := unfinished(record)) is not None:
        return answer
    # Inline (browsers show it), but named after the upload: `curl -OJ` and "Save as" get
    # report.md rather than "result".
    name = PurePosixPath(record.filename).stem + results.RESULT_SUFFIXES[result_format]
    return _send_part(services, record, result_format, disposition=inline(name))


@router.get(
    "/{job_id}/pages/{number}",
    summary="One page's result, available as soon as that page is done",
    responses={
        200: {"content": {"application/json": {"schema": PageResult.model_json_schema()}}},
        **NOT_DONE,
    },
)
async def get_page(
    job_id: str,
    number: Annotated[int, Path(ge=1, le=1_000_000, description="1-based page number.")],
    services: ServicesDep,
    principal: ReaderDep,
) -> Response:
    return await blocking(_page, services, job_id, principal.tenant, number)


def _page(services: Services, job_id: str, tenant: str, number: int) -> Response:
    record = job_record(services, job_id, tenant)
    page = repo.get_page(services.db, job_id=job_id, number=number)
    if page is not None and record.status in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
        key = results.result_key(job_id, page.attempt, page.batch)
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
    answer = unfinished(record)
    assert answer is not None
    return answer


def _send_tables(
    services: Services, job_id: str, tenant: str, part: str, empty: Callable[[], bytes]
) -> Response:
    record = job_record(services, job_id, tenant)
    if (answer := unfinished(record)) is not None:
        return answer
    # A document without tables has no table parts: the empty files are made here (only
    # then: an empty workbook costs a few milliseconds).
    name = f"{job_id}-{part}"
    return _send_part(services, record, part, disposition=attachment(name), empty=empty)


@router.get(
    "/{job_id}/tables.csv",
    summary="Every table as one CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **NOT_DONE},
)
async def get_tables_csv(job_id: str, services: ServicesDep, principal: ReaderDep) -> Response:
    return await blocking(
        _send_tables,
        services,
        job_id,
        principal.tenant,
        "tables.csv",
        lambda: results.EMPTY_TABLES_CSV,
    )


@router.get(
    "/{job_id}/tables.xlsx",
    summary="Every table in one workbook, a sheet per table",
    response_class=Response,
    responses={
        200: {"content": {results.XLSX: {"schema": {"type": "string", "format": "binary"}}}},
        **NOT_DONE,
    },
)
async def get_tables_xlsx(job_id: str, services: ServicesDep, principal: ReaderDep) -> Response:
    return await blocking(
        _send_tables,
        services,
        job_id,
        principal.tenant,
        "tables.xlsx",
        results.empty_tables_xlsx,
    )


@router.get(
    "/{job_id}/tables.zip",
    summary="One CSV per table, zipped",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        **NOT_DONE,
    },
)
async def get_tables_zip(job_id: str, services: ServicesDep, principal: ReaderDep) -> Response:
    return await blocking(
        _send_tables, services, job_id, principal.tenant, "tables.zip", results.empty_tables_zip
    )
