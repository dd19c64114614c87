"""What a worker process builds once and reuses for every job (DESIGN invariant 5).

:class:`WorkerContext` holds the store, blobs, secret box and limits; :class:`LeaseKeeper`
renews the running job's lease from a daemon thread so a live worker never loses its job and a
dead one loses it within ``PDFQ_LEASE_SECONDS``. :class:`JobControl` is the per-job handle the
pipeline checks between pages (cancel, lost lease, time limit).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from pdfq.blobs import Blobs, open_blobs
from pdfq.config import Settings
from pdfq.crypto import SecretBox, load_secret_box
from pdfq.errors import Canceled, JobTimeout, PdfqError
from pdfq.extract.document import Limits
from pdfq.store import Database
from pdfq.store import jobs as repo
from pdfq.store.jobs import Claim

log = structlog.get_logger(__name__)


def process_owner() -> str:
    """Identifies this process as a lease owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """This attempt no longer owns its job (canceled, or re-queued after its lease expired)."""


@dataclass
class JobControl:
    """The running attempt's stop signals, checked by the pipeline between pages."""

    claim: Claim
    deadline: float
    canceled: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.canceled.is_set():
            raise Canceled("canceled by request")
        if self.lost.is_set():
            raise LeaseLost
        if time.monotonic() > self.deadline:
            raise JobTimeout("the job exceeded its time limit")


class LeaseKeeper:
    """Renews the lease of the job currently held by this process, every third of a lease."""

    def __init__(self, db: Database, *, owner: str, lease_seconds: float) -> None:
        self._db = db
        self._owner = owner
        self._lease = lease_seconds
        self._current: JobControl | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pdfq-lease", daemon=True)
        self._thread.start()

    @contextmanager
    def hold(self, control: JobControl) -> Iterator[JobControl]:
        # The claim just set a fresh lease; the first renewal comes a third of a lease later.
        with self._lock:
            self._current = control
        try:
            yield control
        finally:
            with self._lock:
                self._current = None

    def _renew(self, control: JobControl) -> None:
        try:
            ok = repo.renew_lease(
                self._db,
                job_id=control.claim.job_id,
                attempt=control.claim.attempt,
                owner=self._owner,
                lease_seconds=self._lease,
            )
        except PdfqError as exc:  # the store hiccupped: try again at the next tick
            log.warning("lease renewal failed", job_id=control.claim.job_id, error=str(exc))
            return
        if not ok:
            control.lost.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._lease / 3)
            with self._lock:
                control = self._current
            if control is not None:
                self._renew(control)


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    blobs: Blobs
    secrets: SecretBox
    limits: Limits
    owner: str
    leases: LeaseKeeper

    def control_for(self, claim: Claim) -> JobControl:
        return JobControl(
            claim=claim, deadline=time.monotonic() + self.settings.job_time_limit_seconds
        )


def build_worker_context(settings: Settings) -> WorkerContext:
    """Everything a worker process needs, built once per process."""
    db = Database(settings.database_url, pool_size=2)
    owner = process_owner()
    return WorkerContext(
        settings=settings,
        db=db,
        blobs=open_blobs(settings),
        secrets=load_secret_box(settings),
        limits=Limits(max_pages=settings.max_pages, max_stream_bytes=settings.max_stream_bytes),
        owner=owner,
        leases=LeaseKeeper(db, owner=owner, lease_seconds=settings.lease_seconds),
    )
