"""What a worker process builds once and reuses for every job (DESIGN invariant 5).

:class:`WorkerContext` holds the store, blobs, secret box, limits and the OCR chain (whose
engines load on first use and stay warm); :class:`LeaseKeeper` renews the running job's lease
from a daemon thread so a live worker never loses its job and a dead one loses it within
``PDFQ_LEASE_SECONDS``. :class:`JobControl` is the per-job handle the
pipeline checks between pages (cancel, lost lease, time limit).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from pdfq import scratch, tracing
from pdfq.blobs import Blobs, open_blobs
from pdfq.config import Settings
from pdfq.crypto import SecretBox, load_secret_box
from pdfq.errors import Canceled, JobTimeout, PdfqError
from pdfq.extract.convert import ConvertLimits
from pdfq.extract.document import Limits
from pdfq.extract.ocr import OcrChain
from pdfq.store import Database
from pdfq.store import chunks as chunk_repo
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

    def release(self) -> None:
        """The attempt handed its work on (fanned out, gave it back) or acknowledged a stop:
        nothing to renew, and nothing for the watchdog to stop."""
        with self._lock:
            self._current = None

    @property
    def current(self) -> JobControl | None:
        with self._lock:
            return self._current

    def _renew(self, control: JobControl) -> None:
        claim = control.claim
        try:
            if claim.chunk is None:
                ok = repo.renew_lease(
                    self._db,
                    job_id=claim.job_id,
                    attempt=claim.attempt,
                    owner=self._owner,
                    lease_seconds=self._lease,
                )
            else:
                ok = chunk_repo.renew_chunk_lease(
                    self._db, claim=claim, owner=self._owner, lease_seconds=self._lease
                )
        except PdfqError as exc:  # the store hiccupped: try again at the next tick
            log.warning("lease renewal failed", job_id=control.claim.job_id, error=str(exc))
            return
        if not ok:
            control.lost.set()

    def check_now(self) -> None:
        """Renew at once: a renewal that fails tells the running attempt it lost its job
        (canceled, or swept), which it then stops at its next page."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._lease / 3)
            self._wake.clear()
            with self._lock:
                control = self._current
            if control is not None:
                self._renew(control)


Enqueue = Callable[[str, int | None, float], None]
"""Tells the queue that a job (``chunk`` None) or one of its chunks is waiting, after an
optional delay in seconds. The local pool claims from the store and only needs a wake-up."""


def _no_enqueue(job_id: str, chunk: int | None, delay: float) -> None:
    return None


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    blobs: Blobs
    secrets: SecretBox
    limits: Limits
    owner: str
    leases: LeaseKeeper
    ocr: OcrChain
    """Built once per process; its engines load on first use and stay warm."""
    convert_limits: ConvertLimits
    enqueue: Enqueue = _no_enqueue

    def control_for(self, claim: Claim) -> JobControl:
        return JobControl(
            claim=claim, deadline=time.monotonic() + self.settings.job_time_limit_seconds
        )


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


STOP_GRACE_SECONDS = 1.5
"""How long an attempt told to stop (canceled, or its job lost) may take before its process
is killed: a page stuck in C code never reaches the check between pages."""


class Watchdog:
    """Enforces the hard time limit and the memory cap from inside a worker process that has
    no supervisor of its own (a Celery pool process): the job is given back with the reason,
    then the process kills itself and the pool starts a fresh one. An attempt that was told
    to stop and has not within :data:`STOP_GRACE_SECONDS` is killed the same way (its job is
    no longer its own: nothing to give back)."""

    def __init__(self, ctx: WorkerContext, interval: float = 0.25) -> None:
        self._ctx = ctx
        self._interval = interval
        threading.Thread(target=self._run, name="pdfq-watchdog", daemon=True).start()

    def _run(self) -> None:
        settings = self._ctx.settings
        cap = settings.worker_max_memory_mb * 1024 * 1024
        stopping: tuple[JobControl, float] | None = None  # told to stop, since when
        while True:
            time.sleep(self._interval)
            control = self._ctx.leases.current
            if control is None:
                continue
            if control.canceled.is_set() or control.lost.is_set():
                if stopping is None or stopping[0] is not control:
                    stopping = (control, time.monotonic())
                elif time.monotonic() - stopping[1] > STOP_GRACE_SECONDS:
                    log.error("killing this worker process: its attempt did not stop")
                    os.kill(os.getpid(), signal.SIGKILL)
            if time.monotonic() > control.deadline + settings.job_time_limit_grace_seconds:
                limit = settings.job_hard_time_limit_seconds
                self._give_up(control, f"the job passed its hard time limit ({limit:g} s)", True)
            elif rss_bytes(os.getpid()) > cap:
                reason = f"the worker passed its memory cap ({settings.worker_max_memory_mb} MiB)"
                self._give_up(control, reason, False)

    def _give_up(self, control: JobControl, reason: str, timed_out: bool) -> None:
        from pdfq.domain import ErrorCode
        from pdfq.worker.sweeper import give_back

        log.error("killing this worker process", job_id=control.claim.job_id, reason=reason)
        try:
            _, requeued = give_back(
                self._ctx.db,
                control.claim,
                reason=reason,
                max_attempts=self._ctx.settings.max_attempts,
                final_code=ErrorCode.TIMEOUT if timed_out else ErrorCode.WORKER_LOST,
            )
            if requeued:
                self._ctx.enqueue(control.claim.job_id, control.claim.chunk, 0.0)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)


def build_worker_context(settings: Settings) -> WorkerContext:
    """Everything a worker process needs, built once per process."""
    scratch.remove_orphans()  # what a worker killed before its clean-up left
    db = Database(settings.database_url, pool_size=2)
    owner = process_owner()
    tracing.setup(settings, "pdfq-worker")
    return WorkerContext(
        settings=settings,
        db=db,
        blobs=open_blobs(settings),
        secrets=load_secret_box(settings),
        limits=Limits.from_settings(settings),
        owner=owner,
        leases=LeaseKeeper(db, owner=owner, lease_seconds=settings.lease_seconds),
        ocr=OcrChain(settings),
        convert_limits=ConvertLimits.from_settings(settings),
    )
