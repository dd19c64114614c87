"""Server-sent event streams of jobs: stored events translated to the messages clients see.

A stream replays the job's history after the id it resumes from (``Last-Event-ID`` or
``?after=``), then follows new events live (:mod:`pdfq.api.feeds`) until the job ends:

* ``page`` — ``{"job_id", "number", "method"}`` for each page finished (no id of its own);
* ``progress`` — ``{"job_id", "pages_done", "pages_total"}`` after each batch of pages;
* every other stored event under its own type (``started``, ``scanned``, ``page_ocr``,
  ``retried``, ``succeeded``, …) with the event as the history shows it;
* ``job`` — the final job, when it has ended; then the stream closes.

Every message that comes from a stored event carries that event's id, so a client that
reconnects with ``Last-Event-ID`` misses nothing. A batch stream interleaves its jobs and ends
with a ``batch`` message once every job has ended.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from pdfq.api.feeds import EventFeeds
from pdfq.domain import Event
from pdfq.store.jobs import JobRecord

KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 2000
ENDING = frozenset({"succeeded", "failed", "canceled"})
BACKLOG_PAGE = 1000

ReadBacklog = Callable[[Sequence[str], int, int], Awaitable[list[Event]]]
"""Events of these jobs with ``id > after``, at most ``limit``, in id order."""
LoadJob = Callable[[str], Awaitable[JobRecord | None]]


def message(event: str, data: Any, event_id: int | None = None) -> str:
    """One SSE message (JSON never holds a raw newline, so the data is one line)."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


def translate(event: Event) -> list[str]:
    """The messages one stored event becomes."""
    if event.type == "pages":
        data = event.data
        out = [message("page", {"job_id": event.job_id, **page}) for page in data.get("pages", [])]
        progress = {
            "job_id": event.job_id,
            "pages_done": data.get("pages_done"),
            "pages_total": data.get("pages_total"),
        }
        out.append(message("progress", progress, event.id))
        return out
    return [message(event.type, event.model_dump(mode="json"), event.id)]


def ended_by(record: JobRecord, event: Event) -> bool:
    """Whether ``event`` is the end of the job's current run (not of an earlier, retried one)."""
    return (
        record.status.is_terminal
        and record.finished_at is not None
        and event.at >= record.finished_at
    )


async def follow_jobs(
    *,
    feeds: EventFeeds,
    records: Sequence[JobRecord],
    after: int,
    read_backlog: ReadBacklog,
    load_job: LoadJob,
) -> AsyncIterator[str]:
    """The stream of these jobs from event ``after`` until each has ended."""
    open_jobs = {r.id for r in records}
    ids = [r.id for r in records]
    sent: set[int] = set()
    yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
    # Jobs that already ended cannot change (short of a retry): only the others are followed.
    running = [r.id for r in records if not r.status.is_terminal]
    async with feeds.follow(running) as live:
        cursor = after
        while True:  # the backlog, in pages
            backlog = await read_backlog(ids, cursor, BACKLOG_PAGE)
            async for text in _emit(backlog, sent, open_jobs, load_job):
                yield text
            if len(backlog) < BACKLOG_PAGE:
                break
            cursor = backlog[-1].id
        for record in records:  # ended before the events the client resumed from
            if record.id in open_jobs and record.status.is_terminal:
                open_jobs.discard(record.id)
                yield message("job", _job_json(record))
        while open_jobs:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    batch = await live.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            # A feed looks back a few seconds on each read: what the client resumed after is
            # not sent again.
            fresh = [event for event in batch if event.id > after]
            async for text in _emit(fresh, sent, open_jobs, load_job):
                yield text


async def _emit(
    events: Sequence[Event], sent: set[int], open_jobs: set[str], load_job: LoadJob
) -> AsyncIterator[str]:
    for event in sorted(events, key=lambda e: e.id):
        if event.id in sent:
            continue
        sent.add(event.id)
        for text in translate(event):
            yield text
        if event.job_id not in open_jobs:
            continue
        if event.type == "deleted":
            open_jobs.discard(event.job_id)
        elif event.type in ENDING:
            record = await load_job(event.job_id)
            if record is None:
                open_jobs.discard(event.job_id)
            elif ended_by(record, event):
                open_jobs.discard(event.job_id)
                yield message("job", _job_json(record))


def _job_json(record: JobRecord) -> dict[str, Any]:
    return record.to_job().model_dump(mode="json")
