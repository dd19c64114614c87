"""What the API process builds at start-up and shares between requests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from pdfq import scratch
from pdfq.api.auth import Authenticator, RateLimiter
from pdfq.api.events import JobEvents
from pdfq.api.feeds import EventFeeds
from pdfq.api.metrics import ServiceMetrics
from pdfq.api.threads import blocking
from pdfq.blobs import Blobs, open_blobs
from pdfq.config import Settings
from pdfq.crypto import SecretBox, load_secret_box, load_webhook_secret
from pdfq.domain import Event
from pdfq.queue import Queue, open_queue
from pdfq.store import Database, upgrade, warn_if_autovacuum_off
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo

QUEUE_DEPTH_TTL = 1.0  # seconds a queue-depth reading is reused for backpressure decisions


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: Blobs
    queue: Queue
    secrets: SecretBox
    events: JobEvents
    feeds: EventFeeds
    webhook_secret: bytes
    auth: Authenticator
    limiter: RateLimiter
    metrics: ServiceMetrics
    _depth: int = 0
    _depth_at: float = field(default=-1e9)

    async def queue_depth(self) -> int:
        """Queued jobs, re-read at most once a second (one indexed count)."""
        now = time.monotonic()
        if now - self._depth_at > QUEUE_DEPTH_TTL:
            self._depth_at = now
            self._depth = await blocking(repo.count_queued, self.db)
        return self._depth

    def close(self) -> None:
        self.db.dispose()


def build_services(settings: Settings) -> Services:
    """Connect to the store (migrating it), blobs and queue. Blocking; run in a thread."""
    events = JobEvents()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)

    async def read_events(job_id: str, after: int, since: datetime | None) -> list[Event]:
        return await blocking(
            event_repo.list_events, db, job_id=job_id, after_id=after, since=since
        )

    async def last_event_id(job_id: str) -> int:
        return await blocking(event_repo.last_event_id, db, job_id=job_id)

    upgrade(db)
    warn_if_autovacuum_off(db)
    blobs = open_blobs(settings)
    cleanup = getattr(blobs, "remove_stale_temp_files", None)
    if cleanup is not None:
        cleanup()
    scratch.remove_orphans()
    return Services(
        settings=settings,
        db=db,
        blobs=blobs,
        queue=open_queue(settings, db, events.publish),
        secrets=load_secret_box(settings),
        events=events,
        feeds=EventFeeds(events, read_events, last_event_id),
        webhook_secret=load_webhook_secret(settings),
        auth=Authenticator(db),
        limiter=RateLimiter(settings.tenant_rate_per_second, settings.tenant_burst),
        metrics=ServiceMetrics(db, settings.data_dir),
    )
