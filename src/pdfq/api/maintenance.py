"""Periodic upkeep inside each API process: removing what outlived its retention.

Runs ``store/retention.py`` every ``PDFQ_CLEANUP_INTERVAL_SECONDS`` (first a minute after
start) when any retention period is set. Several API processes may run it at once: every
step is idempotent and each row change a compare-and-set, so they only share the work.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from pdfq.blobs import Blobs
from pdfq.config import Settings
from pdfq.errors import PdfqError
from pdfq.store import Database
from pdfq.store.retention import cleanup

log = structlog.get_logger(__name__)

FIRST_RUN_SECONDS = 60.0


class CleanupLoop:
    def __init__(self, settings: Settings, db: Database, blobs: Blobs) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.retention.active:
            self._task = asyncio.create_task(self._run(), name="pdfq-cleanup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await asyncio.sleep(min(FIRST_RUN_SECONDS, self.settings.cleanup_interval_seconds))
        while True:
            try:
                report = await asyncio.to_thread(
                    cleanup, self.db, self.blobs, self.settings.retention
                )
                if not report.empty:
                    log.info(
                        "retention cleanup",
                        inputs_removed=len(report.inputs),
                        results_removed=len(report.results),
                        records_deleted=len(report.records),
                        events_deleted=report.events,
                    )
            except PdfqError as exc:  # the store or blobs hiccupped: the next round retries
                log.warning("retention cleanup failed", error=exc.message)
            await asyncio.sleep(self.settings.cleanup_interval_seconds)
