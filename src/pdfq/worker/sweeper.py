"""The sweeper: gives jobs of dead workers back to the queue (DESIGN invariant 3).

A running job whose lease expired lost its worker (killed, crashed, its host gone, or the
broker lost the message). It is re-queued, or failed with ``worker_lost`` once its attempts
are used up. Every step is a compare-and-set, so several sweepers never double a job.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import structlog

from pdfq.domain import ErrorCode, JobStatus
from pdfq.store import Database
from pdfq.store import jobs as repo
from pdfq.store.jobs import Claim

log = structlog.get_logger(__name__)


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
    enqueue: Callable[[str], None] | None = None,
    check_local_owners: bool = False,
) -> int:
    """Re-queue (or fail) every job whose worker is gone. Returns how many were handled."""
    lost = {c.job_id: c for c in repo.expired_leases(db)}
    if check_local_owners:
        lost.update({c.job_id: c for c in dead_local_owners(db)})
    for claim in lost.values():
        status = repo.requeue(
            db,
            job_id=claim.job_id,
            attempt=claim.attempt,
            reason="the worker running it was lost",
            max_attempts=max_attempts,
            final_code=ErrorCode.WORKER_LOST,
        )
        log.warning("swept a lost job", job_id=claim.job_id, attempt=claim.attempt, now=status)
        if status == JobStatus.QUEUED and enqueue is not None:
            enqueue(claim.job_id)
    return len(lost)
