"""Live event feeds for the streaming endpoints: one store reader per watched job per API
process, fanned out to every stream following that job.

A notification about a job (from the local pool, or PostgreSQL ``NOTIFY`` from any host)
makes the job's feed read the events written since its last read, once, and hand them to all
its followers: a thousand clients watching one job cost one query per change, not a thousand.
A feed starts from the job's newest event; a follower reads its own backlog (the events after
the id it resumes from) once it follows, so joining late or reconnecting misses nothing, and
drops by id what it receives twice.

Two safety nets, per feed and never per client: reads look back a few seconds beyond the last
id (a transaction that took its ids earlier can commit later than one that took later ids),
and a feed that hears nothing re-reads every few seconds (a notification lost while the
PostgreSQL listener reconnects only delays it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog

from pdfq.api.events import JobEvents
from pdfq.domain import Event

log = structlog.get_logger(__name__)

LOOKBACK = timedelta(seconds=5)
QUIET_REREAD_SECONDS = 5.0
STOP_SECONDS = 5.0

ReadEvents = Callable[[str, int, datetime | None], Awaitable[list[Event]]]
"""Reads a job's events with ``id > after`` (and, given a time, those written since then)."""
LastEventId = Callable[[str], Awaitable[int]]
"""The id of a job's newest event."""


class _Feed:
    def __init__(self, job_id: str, hub: JobEvents, read: ReadEvents, last: LastEventId) -> None:
        self.job_id = job_id
        self.followers: set[asyncio.Queue[list[Event]]] = set()
        self._hub = hub
        self._read = read
        self._last = last
        self._cursor = 0
        self._recent: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"feed-{self.job_id}")

    async def ready(self) -> None:
        """Until notifications reach this feed (so a follower's backlog read after this
        misses nothing)."""
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait([self._task], timeout=STOP_SECONDS)
            if not done:
                log.error("an event feed did not stop", job_id=self.job_id)

    async def _run(self) -> None:
        async with self._hub.subscribe(self.job_id) as subscription:
            # Subscribed first, so nothing written from here on goes unnoticed; what is older
            # is the followers' backlog (and the look-back still catches late commits).
            try:
                self._cursor = await self._last(self.job_id)
            except Exception as exc:  # start from the beginning: followers drop what they had
                log.warning("event feed start failed", job_id=self.job_id, error=str(exc))
            self._ready.set()
            while True:
                await subscription.get(QUIET_REREAD_SECONDS)
                try:
                    fresh = await self._fresh()
                except Exception as exc:  # the store hiccupped: the next note retries
                    log.warning("event feed read failed", job_id=self.job_id, error=str(exc))
                    continue
                if fresh:
                    for follower in self.followers:
                        follower.put_nowait(fresh)

    async def _fresh(self) -> list[Event]:
        now = datetime.now(UTC)
        rows = await self._read(self.job_id, self._cursor, now - LOOKBACK)
        fresh = [r for r in rows if r.id not in self._recent]
        for row in fresh:
            self._recent[row.id] = row.at
            self._cursor = max(self._cursor, row.id)
        horizon = now - 2 * LOOKBACK
        self._recent = {k: at for k, at in self._recent.items() if at >= horizon}
        return fresh


class EventFeeds:
    """The feeds of one API process, created when a job gets its first follower and stopped
    when it loses its last."""

    def __init__(self, hub: JobEvents, read: ReadEvents, last: LastEventId) -> None:
        self._hub = hub
        self._read = read
        self._last = last
        self._feeds: dict[str, _Feed] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def follow(self, job_ids: Sequence[str]) -> AsyncIterator[asyncio.Queue[list[Event]]]:
        """A queue receiving every new event of these jobs, in batches, while inside."""
        queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        joined: list[_Feed] = []
        try:
            # Nothing awaits while the lock is held: the feed table only changes in one step.
            async with self._lock:
                for job_id in job_ids:
                    feed = self._feeds.get(job_id)
                    if feed is None:
                        feed = self._feeds[job_id] = _Feed(
                            job_id, self._hub, self._read, self._last
                        )
                        feed.start()
                    feed.followers.add(queue)
                    joined.append(feed)
            for feed in joined:
                await feed.ready()
            yield queue
        finally:
            idle = []
            async with self._lock:
                for feed in joined:
                    feed.followers.discard(queue)
                    if not feed.followers and self._feeds.get(feed.job_id) is feed:
                        del self._feeds[feed.job_id]
                        idle.append(feed)
            for feed in idle:
                await feed.stop()

    @property
    def followed_jobs(self) -> int:
        return len(self._feeds)


__all__ = ["EventFeeds"]
