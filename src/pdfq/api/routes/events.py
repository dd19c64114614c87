"""Event routes: a job's (or a batch's) history as JSON, or live as server-sent events;
and the tenant's audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from pdfq.api import sse
from pdfq.api.deps import AdminDep, ReaderDep, ServicesDep
from pdfq.api.routes.batches import batch_summary, load_batch
from pdfq.api.routes.jobs import load_job
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.domain import Event, EventPage
from pdfq.errors import InvalidRequest
from pdfq.store import batches as batch_repo
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store.jobs import JobRecord

router = APIRouter(tags=["events"])

EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
HISTORY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The history as JSON, or with `Accept: text/event-stream` a live stream "
        "(messages `page`, `progress`, each event type, and a final `job`) that ends when the "
        "job ends. Resume with `Last-Event-ID`.",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    },
    404: {"description": "no such job"},
}

MAX_ID = 2**62  # the store's integers are 64-bit: larger numbers cannot name anything
AfterQuery = Annotated[int, Query(ge=0, le=MAX_ID, description="Only events with a larger id.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
ISO_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
LastEventIdHeader = Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)]


def wants_stream(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def resume_point(after: int, last_event_id: str | None) -> int:
    if last_event_id and last_event_id.isdigit():
        return min(int(last_event_id), MAX_ID)
    return after


def stream(services: Services, records: Sequence[JobRecord], after: int) -> AsyncIterator[str]:
    db = services.db

    async def read_backlog(ids: Sequence[str], cursor: int, limit: int) -> list[Event]:
        return await blocking(
            event_repo.list_events, db, job_id=list(ids), after_id=cursor, limit=limit
        )

    async def load(job_id: str) -> JobRecord | None:
        return await blocking(repo.get_job, db, job_id=job_id)

    return sse.follow_jobs(
        feeds=services.feeds,
        records=records,
        after=after,
        read_backlog=read_backlog,
        load_job=load,
    )


def streaming_response(messages: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(messages, media_type=EVENT_STREAM, headers=STREAM_HEADERS)


@router.get(
    "/v1/jobs/{job_id}/events",
    response_model=list[Event],
    summary="The job's events: history, or a live stream",
    responses=HISTORY_RESPONSES,
)
async def job_events(
    job_id: str,
    request: Request,
    services: ServicesDep,
    principal: ReaderDep,
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
    last_event_id: LastEventIdHeader = None,
) -> Response | list[Event]:
    record = await load_job(services, job_id, principal.tenant)
    if wants_stream(request):
        return streaming_response(stream(services, [record], resume_point(after, last_event_id)))
    return await blocking(
        event_repo.list_events, services.db, job_id=job_id, after_id=after, limit=limit
    )


@router.get(
    "/v1/events",
    response_model=EventPage,
    summary="The audit trail: events of all the tenant's jobs, deleted ones too (admin)",
)
async def audit_events(
    services: ServicesDep,
    principal: AdminDep,
    since: Annotated[
        str | None,
        Query(pattern=ISO_TIME, description="From this time (ISO 8601; UTC if no zone)."),
    ] = None,
    until: Annotated[str | None, Query(pattern=ISO_TIME, description="Before this time.")] = None,
    type: Annotated[list[EventType], Query(description="Only these event types.")] = [],  # noqa: B006
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
) -> EventPage:
    items = await blocking(
        event_repo.audit_events,
        services.db,
        tenant=principal.tenant,
        since=_aware(since),
        until=_aware(until),
        types=type,
        after_id=after,
        limit=limit,
    )
    return EventPage(items=items, next_after=items[-1].id if len(items) == limit else None)


def _aware(text: str | None) -> datetime | None:
    """An ISO 8601 time; without a zone it is taken as UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"{text!r} is not a time (use ISO 8601)") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.get(
    "/v1/batches/{batch_id}/events",
    response_model=list[Event],
    summary="The events of a batch's jobs: history, or a live stream",
    responses={
        **HISTORY_RESPONSES,
        200: {
            **HISTORY_RESPONSES[200],
            "description": "As for one job, interleaving the batch's jobs; the stream ends "
            "with a `batch` message (the batch with its counts) once every job has ended.",
        },
        404: {"description": "no such batch"},
    },
)
async def batch_events(
    batch_id: str,
    request: Request,
    services: ServicesDep,
    principal: ReaderDep,
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
    last_event_id: LastEventIdHeader = None,
) -> Response | list[Event]:
    batch = await load_batch(services, batch_id, principal.tenant)
    records = await blocking(batch_repo.batch_jobs, services.db, batch_id=batch.id)
    if not wants_stream(request):
        return await blocking(
            event_repo.list_events,
            services.db,
            job_id=[r.id for r in records],
            after_id=after,
            limit=limit,
        )

    async def messages() -> AsyncIterator[str]:
        async for text in stream(services, records, resume_point(after, last_event_id)):
            yield text
        summary = await blocking(batch_summary, services, batch)
        yield sse.message("batch", summary.model_dump(mode="json"))

    return streaming_response(messages())
