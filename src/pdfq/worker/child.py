"""The worker process of the local pool: claims queued jobs from the store and runs them.

Messages from the dispatcher: ``("work",)`` — claim and run work until none is queued;
``("cancel", job_id)``; ``("stop",)`` — exit after the current job. Messages back:
``("started", job_id, attempt, chunk)`` before each job or chunk, ``("notify", kind, data)``
for live progress, ``("wake",)`` when this worker queued work for the others (a fanned-out
document's chunks), ``("done", job_id, status)`` after it, and ``("idle",)`` when the queue
is empty. Chunks and whole jobs are claimed in one order: priority, then the fair order across
tenants (``store/fair.py``).

Claiming here rather than in the dispatcher keeps that work off the API process. A reader
thread owns the pipe so a cancel reaches the running job at once; the job stops at its next
page, or the dispatcher kills this process.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import structlog

from pdfq.config import Settings
from pdfq.errors import PdfqError
from pdfq.heap import freeze_heap
from pdfq.logs import configure_logging
from pdfq.store import chunks as chunk_repo
from pdfq.worker.context import JobControl, WorkerContext, build_worker_context
from pdfq.worker.pipeline import Outcome, process_job

log = structlog.get_logger(__name__)


class _Channel:
    """The pipe to the dispatcher: a reader thread for its messages, a lock for ours."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.running: dict[str, JobControl] = {}
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name="pdfq-child-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):  # the dispatcher is gone: finish the job, then exit
                message = ("stop",)
            if message[0] == "cancel":
                control = self.running.get(message[1])
                if control is not None:
                    control.canceled.set()
                continue
            if message[0] == "stop":
                self.stopping.set()
                self.inbox.put("stop")
                return
            self.inbox.put(message[0])

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock, contextlib.suppress(OSError):  # the store keeps the truth
            self.conn.send(message)


def _work(ctx: WorkerContext, channel: _Channel) -> None:
    """Claim and run jobs until none is queued or a stop is asked for."""

    def notify(kind: str, data: dict[str, Any]) -> None:
        channel.send(("notify", kind, data))

    while not channel.stopping.is_set():
        lease = ctx.settings.lease_seconds
        try:
            claim = chunk_repo.claim_next_work(
                ctx.db,
                owner=ctx.owner,
                lease_seconds=lease,
                max_running=ctx.settings.tenant_max_running,
            )
        except PdfqError as exc:
            log.warning("cannot claim jobs", error=exc.message)
            time.sleep(1)
            break
        if claim is None:
            break
        control = ctx.control_for(claim)
        channel.running[claim.job_id] = control  # before "started", which makes it cancelable
        channel.send(("started", claim.job_id, claim.attempt, claim.chunk))
        try:
            outcome = process_job(ctx, claim, control=control, notify=notify)
        except PdfqError as exc:  # the store is down: the lease runs out, the sweeper recovers
            log.warning("could not record a job's outcome", job_id=claim.job_id, error=exc.message)
            outcome = Outcome(claim.job_id, None)
        finally:
            channel.running.pop(claim.job_id, None)
        channel.send(("done", claim.job_id, outcome.status.value if outcome.status else None))
    channel.send(("idle",))


def child_main(conn: Connection, settings: Settings) -> None:
    # Ctrl-C reaches the whole process group; the dispatcher decides what happens to jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Tesseract's OpenMP threads thrash when several processes each start one per core.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    # Parsing is batch work: the API sharing this host must win the CPU when it needs it.
    os.setpriority(os.PRIO_PROCESS, 0, settings.worker_nice)
    configure_logging(settings)
    ctx = build_worker_context(settings)
    channel = _Channel(conn)
    ctx.enqueue = lambda job_id, chunk, delay: channel.send(("wake",))
    freeze_heap()
    while channel.inbox.get() == "work":
        _work(ctx, channel)
    ctx.db.dispose()
