"""Prometheus metrics at ``/metrics``: the HTTP API of this process, and the whole service as
the store records it.

Two kinds of series:

* **This API process**: request counts and latency by route (a middleware), and, for the
  local queue, its worker processes busy and idle.
* **The service**, read from the store, so that worker processes, Celery workers on other
  hosts and restarts need no metrics plumbing of their own (the store is the truth, and every
  worker already writes its events there). At each scrape the collector reads the event log
  from where it stopped (one indexed range read) and counts jobs submitted and finished (by
  status and code), pages by method and OCR provider, OCR seconds per page, webhook
  deliveries by outcome, and, for the jobs that ended, their queue wait and processing time;
  and it reads queue depth, the oldest queued job's age, running jobs and the data folder's
  size. Counters start at zero when the process starts, as Prometheus expects. With several
  API processes these service series are the same on each: aggregate them with ``max``.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from starlette.responses import Response

from pdfq.domain import Event
from pdfq.store import Database
from pdfq.store import events as event_repo
from pdfq.store.tables import chunks, events, jobs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TAIL_PAGE = 5000
TAIL_MAX = 100_000  # events read per scrape at most; the rest wait for the next scrape
DISK_USAGE_SECONDS = 60.0  # the data folder is measured at most this often
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class ServiceMetrics:
    """The registry of one API process and the tail of the event log that feeds it."""

    def __init__(self, db: Database, data_dir: Path | None) -> None:
        self.db = db
        self.data_dir = data_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Histogram(
            "pdfq_http_request_duration_seconds",
            "HTTP requests by route, method and status, and how long they took.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.submitted = Counter("pdfq_jobs_submitted", "Jobs created.", registry=r)
        self.finished = Counter(
            "pdfq_jobs_finished",
            "Jobs that ended, by status and error code.",
            ["status", "code"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "pdfq_job_queue_wait_seconds",
            "From submission to the first start, for jobs that ended.",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.processing = Histogram(
            "pdfq_job_processing_seconds",
            "From the first start to the end, for jobs that ended.",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.pages = Counter(
            "pdfq_pages_processed",
            "Pages read, by method (text or ocr) and OCR provider (none for text pages).",
            ["method", "provider"],
            registry=r,
        )
        self.ocr_seconds = Histogram(
            "pdfq_ocr_page_seconds",
            "Time to render and read one OCR page.",
            ["provider"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "pdfq_webhook_deliveries",
            "Webhook attempts by outcome: delivered, failed (retried), gave_up.",
            ["outcome"],
            registry=r,
        )
        self.queue_depth = Gauge("pdfq_queue_depth", "Jobs queued.", registry=r)
        self.oldest_queued = Gauge(
            "pdfq_queue_oldest_seconds", "Age of the oldest queued job (0 if none).", registry=r
        )
        self.running = Gauge("pdfq_jobs_running", "Jobs running.", registry=r)
        self.chunks_queued = Gauge(
            "pdfq_chunks_queued", "Chunks of large documents waiting.", registry=r
        )
        self.workers = Gauge(
            "pdfq_workers",
            "Worker processes of this server's pool, by state (local queue only).",
            ["state"],
            registry=r,
        )
        self.data_dir_bytes = Gauge(
            "pdfq_data_dir_bytes",
            "Bytes under the data folder (database and local blobs).",
            registry=r,
        )
        self._cursor: int | None = None
        self._disk_at = -1e9

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).observe(seconds)

    # --- scraping (blocking: run in a thread) -----------------------------------------------

    def scrape(self, *, workers: tuple[int, int] | None = None) -> bytes:
        """Bring the service series up to date and render every series."""
        self._tail()
        self._gauges()
        if workers is not None:
            busy, total = workers
            self.workers.labels("busy").set(busy)
            self.workers.labels("idle").set(max(total - busy, 0))
        self._disk_usage()
        return generate_latest(self.registry)

    def start_from_now(self) -> None:
        """Count only what happens from now on (called at start-up)."""
        with self.db.read() as conn:
            self._cursor = int(conn.execute(select(func.max(events.c.id))).scalar() or 0)

    def _tail(self) -> None:
        if self._cursor is None:
            self.start_from_now()
        read = 0
        while read < TAIL_MAX:
            batch = event_repo.list_all_events(self.db, after_id=self._cursor or 0, limit=TAIL_PAGE)
            if not batch:
                return
            self._count(batch)
            self._cursor = batch[-1].id
            read += len(batch)
            if len(batch) < TAIL_PAGE:
                return

    def _count(self, batch: list[Event]) -> None:
        ended: list[str] = []
        for event in batch:
            data = event.data
            kind = event.type
            if kind == "received":
                self.submitted.inc()
            elif kind in ("succeeded", "canceled"):
                self.finished.labels(kind, "" if kind == "succeeded" else "canceled").inc()
                ended.append(event.job_id)
            elif kind == "failed":
                self.finished.labels("failed", str(data.get("code", ""))).inc()
                ended.append(event.job_id)
            elif kind == "pages":
                text_pages = sum(1 for p in data.get("pages", []) if p.get("method") == "text")
                if text_pages:
                    self.pages.labels("text", "none").inc(text_pages)
            elif kind == "page_ocr":
                provider = str(data.get("provider") or "none")
                self.pages.labels("ocr", provider).inc()
                if isinstance(data.get("seconds"), int | float):
                    self.ocr_seconds.labels(provider).observe(float(data["seconds"]))
            elif kind == "webhook_delivered":
                self.webhooks.labels("delivered").inc()
            elif kind == "webhook_failed":
                self.webhooks.labels("failed").inc()
            elif kind == "webhook_gave_up":
                self.webhooks.labels("gave_up").inc()
        if ended:
            self._durations(ended)

    def _durations(self, job_ids: list[str]) -> None:
        query = select(jobs.c.created_at, jobs.c.started_at, jobs.c.finished_at).where(
            jobs.c.id.in_(job_ids), jobs.c.dedupe_of.is_(None)
        )
        with self.db.read() as conn:
            for created, started, finished in conn.execute(query):
                if started is None or finished is None:
                    continue  # canceled while queued
                self.queue_wait.observe(max((started - created).total_seconds(), 0.0))
                self.processing.observe(max((finished - started).total_seconds(), 0.0))

    def _gauges(self) -> None:
        queued = jobs.c.status == "queued"
        with self.db.read() as conn:
            depth, oldest = conn.execute(
                select(func.count(), func.min(jobs.c.created_at)).where(queued)
            ).one()
            running = conn.execute(
                select(func.count()).where(jobs.c.status == "running")
            ).scalar_one()
            waiting_chunks = conn.execute(
                select(func.count()).where(chunks.c.status == "queued")
            ).scalar_one()
        self.queue_depth.set(depth)
        self.running.set(running)
        self.chunks_queued.set(waiting_chunks)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        self.oldest_queued.set(max(age, 0.0))

    def _disk_usage(self) -> None:
        if self.data_dir is None or time.monotonic() - self._disk_at < DISK_USAGE_SECONDS:
            return
        self._disk_at = time.monotonic()
        self.data_dir_bytes.set(folder_bytes(self.data_dir))


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (blocks actually used, as ``du`` counts)."""
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
    return total


def metrics_response(body: bytes) -> Response:
    return Response(body, media_type=CONTENT_TYPE)


__all__ = ["CONTENT_TYPE", "ServiceMetrics", "folder_bytes", "metrics_response"]
