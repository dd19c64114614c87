"""Giving work back, and the sweeper that finds work whose worker is gone (invariant 3).

:func:`give_back` re-queues an attempt (of a job or of one chunk), or fails the job once the
attempts are used up; the dispatcher calls it when a worker process dies, the pipeline on a
transient failure, the sweeper when a lease expired. :func:`sweep` finds expired leases (the
worker was killed, crashed, or its host vanished) and, in the embedded shape, work leased by
processes of this host that no longer exist. :func:`resend_lost` re-sends messages a broker
lost (a Redis restarted without persistence). Every step is a compare-and-set, so several
sweepers never double a job, and a message sent twice runs once.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import structlog
from sqlalchemy import text

from pdfq.config import Settings
from pdfq.domain import ErrorCode, JobError, JobStatus
from pdfq.errors import PdfqError
from pdfq.store import Database
from pdfq.store import chunks as chunk_repo
from pdfq.store import jobs as repo
from pdfq.store.jobs import Claim, utcnow

log = structlog.get_logger(__name__)

Enqueue = Callable[[str, int | None, float], None]


def give_back(
    db: Database,
    claim: Claim,
    *,
    reason: str,
    max_attempts: int,
    final_code: ErrorCode = ErrorCode.WORKER_LOST,
    count_attempt: bool = True,
    delay_seconds: float = 0.0,
    owner: str | None = None,
) -> tuple[JobStatus | None, bool]:
    """Re-queue the attempt or fail its job. Returns ``(job status, work re-queued)``;
    the status is ``None`` when the attempt no longer owned the work (or, with ``owner``,
    that process no longer held its lease)."""
    if claim.chunk is None:
        status = repo.requeue(
            db,
            job_id=claim.job_id,
            attempt=claim.attempt,
            reason=reason,
            max_attempts=max_attempts,
            final_code=final_code,
            count_attempt=count_attempt,
            delay_seconds=delay_seconds,
            owner=owner,
        )
        return status, status == JobStatus.QUEUED
    state = chunk_repo.requeue_chunk(
        db,
        claim=claim,
        reason=reason,
        max_attempts=max_attempts,
        count_attempt=count_attempt,
        owner=owner,
    )
    if state == "queued":
        return JobStatus.RUNNING, True
    if state == "exhausted":
        record = repo.get_job(db, job_id=claim.job_id)
        if record is not None and record.status == JobStatus.RUNNING:
            message = f"chunk {claim.chunk}: {reason}; gave up after {claim.attempt} attempts"
            ok = repo.finish(
                db,
                job_id=record.id,
                attempt=record.attempts,
                error=JobError(code=final_code, message=message),
                has_webhook=record.webhook_url is not None,
            )
            return (JobStatus.FAILED if ok else None), False
    return None, False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def dead_local_owners(db: Database) -> list[Claim]:
    """Running jobs leased by processes of this host that no longer exist.

    Only meaningful when every process sharing the store shares this host's process table
    (the embedded shape with SQLite); then a restart recovers at once instead of after a lease.
    """
    host = socket.gethostname()
    dead = []
    for claim, owner in repo.running_leases(db):
        if owner and owner.rpartition(":")[0] == host:
            pid = owner.rpartition(":")[2]
            if pid.isdigit() and not _pid_alive(int(pid)):
                dead.append(claim)
    return dead


def sweep(
    db: Database,
    *,
    max_attempts: int,
    enqueue: Enqueue | None = None,
    check_local_owners: bool = False,
    skip: frozenset[tuple[str, int | None]] = frozenset(),
) -> int:
    """Re-queue (or fail) every job and chunk whose worker is gone. Returns how many.

    ``skip`` names work a supervisor is handling itself (the local dispatcher knows why its
    own worker died and gives the work back with that reason)."""
    lost: dict[tuple[str, int | None], Claim] = {
        (c.job_id, None): c for c in repo.expired_leases(db)
    }
    if check_local_owners:
        lost.update({(c.job_id, None): c for c in dead_local_owners(db)})
    lost.update({(c.job_id, c.chunk): c for c in chunk_repo.expired_chunk_leases(db)})
    for key in skip:
        lost.pop(key, None)
    for claim in lost.values():
        status, requeued = give_back(
            db, claim, reason="the worker running it was lost", max_attempts=max_attempts
        )
        log.warning(
            "swept lost work", job_id=claim.job_id, chunk=claim.chunk, attempt=claim.attempt,
            now=status,
        )  # fmt: skip
        if requeued and enqueue is not None:
            enqueue(claim.job_id, claim.chunk, 0.0)
    return len(lost)


def resend_lost(
    db: Database,
    *,
    backlog: int,
    enqueue: Enqueue,
    older_than_seconds: float = 30.0,
    limit: int = 1000,
    max_running: int = 0,
) -> int:
    """Re-send messages for work queued in the store but missing from the broker.

    ``backlog`` is how many messages the broker holds. Work queued for a while in the store
    beyond that count has lost its message (e.g. Redis restarted without persistence); sending
    it again is safe because claims are compare-and-set. Returns how many were re-sent.
    """
    before = utcnow() - timedelta(seconds=older_than_seconds)
    waiting_jobs = repo.queued_since(db, before=before, limit=limit, max_running=max_running)
    waiting_chunks = chunk_repo.queued_chunks_since(db, before=before, limit=limit)
    missing = len(waiting_jobs) + len(waiting_chunks) - backlog
    if missing <= 0:
        return 0
    resent = 0
    for job_id in waiting_jobs:
        if resent >= missing:
            break
        enqueue(job_id, None, 0.0)
        resent += 1
    for job_id, number in waiting_chunks:
        if resent >= missing:
            break
        enqueue(job_id, number, 0.0)
        resent += 1
    log.warning("re-sent messages the broker lost", count=resent)
    return resent


_SWEEPER_LOCK = 0x70646673  # "pdfs": one sweeper at a time across every host


@contextmanager
def _only_one_sweeper(db: Database) -> Iterator[bool]:
    """Holds PostgreSQL's advisory lock for the sweep, or yields False if another has it."""
    if db.is_sqlite:  # one machine; compare-and-set keeps concurrent sweeps harmless anyway
        yield True
        return
    with db.engine.connect() as conn:
        mine = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _SWEEPER_LOCK}).scalar()
        )
        conn.commit()
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _SWEEPER_LOCK})
                conn.commit()


class SweeperThread:
    """The sweeper of the distributed shape, run by ``pdfq serve`` (and by Celery beat with
    ``pdfq worker --beat``): at most one sweeps at a time, thanks to an advisory lock."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        enqueue: Enqueue,
        backlog: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.enqueue = enqueue
        self.backlog = backlog
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pdfq-sweeper", daemon=True)

    def run_once(self) -> int:
        """One sweep; returns how much work was given back or re-sent."""
        with _only_one_sweeper(self.db) as mine:
            if not mine:
                return 0
            handled = sweep(self.db, max_attempts=self.settings.max_attempts, enqueue=self.enqueue)
            if self.backlog is not None:
                handled += resend_lost(
                    self.db,
                    backlog=self.backlog(),
                    enqueue=self.enqueue,
                    older_than_seconds=self.settings.lost_message_seconds,
                    max_running=self.settings.tenant_max_running,
                )
            return handled

    def _run(self) -> None:
        while not self._stop.wait(self.settings.sweep_interval_seconds):
            try:
                self.run_once()
            except PdfqError as exc:
                log.warning("sweep failed", error=exc.message)
            except Exception:
                log.exception("sweep failed")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
