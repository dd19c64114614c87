"""The Celery queue kind (``PDFQ_QUEUE=celery``): the Celery app and tasks run by ``pdfq
worker``, and the API side that sends job ids to the broker (Redis or RabbitMQ).

Messages carry a job id (and a chunk number), nothing else: the store is the truth. A job
message is a turn to run the next job in the store's order (``_claim_next``), which gives
priorities and fairness across tenants the same meaning as in the embedded shape.
Reliability: ``acks_late`` (a message is acknowledged only after its task ran), prefetch 1,
``reject_on_worker_lost`` (a message whose worker died returns to the broker); the attempt cap
lives in the store (claims count attempts; the sweeper fails work whose attempts are used up),
so a PDF that kills its worker cannot loop forever. A redelivered or duplicated message finds
nothing left to claim and does nothing.

Queues: ``pdfq`` for whole jobs, ``pdfq.chunks`` for chunks of fanned-out documents. Workers
take from both in turn, so a small job waits for at most one chunk per worker process instead
of behind every page of a 2,000-page document.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init
from celery.worker.control import control_command
from kombu.entity import Queue as KombuQueue
from kombu.exceptions import ChannelError

from pdfq.config import Settings
from pdfq.domain import JobStatus
from pdfq.errors import TransientError, Unavailable
from pdfq.heap import freeze_heap
from pdfq.queue import Notify
from pdfq.store import Database
from pdfq.store import chunks as chunk_repo
from pdfq.store import jobs as repo
from pdfq.store import notify as bus
from pdfq.store.jobs import Claim
from pdfq.worker.context import LeaseKeeper, Watchdog, WorkerContext, build_worker_context
from pdfq.worker.pipeline import backoff_seconds, give_back_after_store_failure, process_job
from pdfq.worker.sweeper import SweeperThread

log = structlog.get_logger(__name__)

JOBS_QUEUE = "pdfq"
CHUNKS_QUEUE = "pdfq.chunks"
TASK_JOB = "pdfq.run_job"
TASK_CHUNK = "pdfq.run_chunk"
TASK_SWEEP = "pdfq.sweep"
TRANSIENT_RETRIES = 30  # the store unreachable: retried with back-off for about half an hour
RECHECK_SECONDS = 1.0  # a job that cannot be taken yet is looked at again after this
WORKERS_SEEN_SECONDS = 10.0  # readiness pings the workers at most this often


def create_celery(settings: Settings) -> Celery:
    """The Celery app, configured from settings, with pdfq's tasks registered."""
    app = Celery("pdfq", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=[KombuQueue(JOBS_QUEUE), KombuQueue(CHUNKS_QUEUE)],  # type: ignore[no-untyped-call]
        task_default_queue=JOBS_QUEUE,
        worker_concurrency=settings.workers,
        worker_max_tasks_per_child=settings.worker_max_jobs,
        # Celery's own hard limit is a last resort; the worker's watchdog acts first.
        task_time_limit=settings.job_hard_time_limit_seconds + 60,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings.broker_url),
        beat_schedule={
            "pdfq-sweep": {"task": TASK_SWEEP, "schedule": settings.sweep_interval_seconds}
        },
    )
    _register_tasks(app, settings)
    return app


def _transport_options(broker_url: str) -> dict[str, Any]:
    """On Redis, no ack emulation: kombu would copy every message it delivers into a Redis
    hash and delete it on the ack, two more round trips per message (one between its arrival
    and its dispatch to a pool process), to put back, after a visibility timeout, the messages
    of a worker that died whole. The store already recovers those: a claimed job when its lease
    runs out, an unclaimed one when the sweeper re-sends what the broker lacks. Without it the
    worker still puts back, from memory, the message of a pool process that died
    (``reject_on_worker_lost``) and those it holds when it stops."""
    if broker_url.split(":", 1)[0] in ("redis", "rediss", "sentinel"):
        return {"ack_emulation": False}
    return {}


# --- worker side: one context per pool process ----------------------------------------------

_context: WorkerContext | None = None
_context_lock = threading.Lock()


def worker_context(settings: Settings, app: Celery) -> WorkerContext:
    """This pool process's context, built once (and its watchdog started)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = build_worker_context(settings)
            # Chunks of a fan-out, a retry after a back-off: stored before they are sent.
            ctx.enqueue = lambda job_id, chunk, delay: send_or_leave_to_sweeper(
                app, job_id, chunk, delay
            )
            _wake_on_signals(ctx.leases)
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # see worker/child.py
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, settings.worker_nice)
            Watchdog(ctx)
            freeze_heap()
            _context = ctx
        return _context


def _on_cancel_signal(_signum: int, _frame: Any) -> None:
    # Sent by the pdfq_cancel control command to every pool process running pdfq work: the
    # process does not know which job was canceled, so it asks the store (a lease renewal,
    # which fails for a canceled job); the attempt then stops at its next page.
    if _context is not None:
        _context.leases.check_now()


def _wake_on_signals(leases: LeaseKeeper) -> None:
    """Also check at once while the main thread is inside C code (a slow page), where a
    Python signal handler waits for it to return: the interpreter writes each caught
    signal's number to this pipe at once, and a thread here reads it."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def run() -> None:
        while os.read(read_end, 64):
            leases.check_now()

    threading.Thread(target=run, name="pdfq-signals", daemon=True).start()


def _run(
    task: Task,
    ctx: WorkerContext,
    claim: Claim | None,
    *,
    resumed: bool = False,
    owner: str | None = None,
) -> str | None:
    if claim is None:  # already claimed, finished or canceled: a duplicate or late message
        return None
    try:
        # Live notifications come from the store itself (NOTIFY with each commit).
        if resumed:
            outcome = give_back_after_store_failure(ctx, claim, owner)
        else:
            outcome = process_job(ctx, claim)
    except TransientError as exc:
        # The store could not record the outcome: give this attempt back later. The retry
        # names the work claimed, which a job message (a turn) need not have named.
        work = [claim.job_id] if claim.chunk is None else [claim.job_id, claim.chunk]
        raise task.retry(
            args=[*work, claim.attempt, ctx.owner],
            countdown=backoff_seconds(task.request.retries),
            max_retries=TRANSIENT_RETRIES,
            exc=exc,
        ) from exc
    return outcome.status.value if outcome.status else None


def _register_tasks(app: Celery, settings: Settings) -> None:
    @app.task(name=TASK_JOB, bind=True)  # type: ignore[untyped-decorator]
    def run_job(
        task: Task, job_id: str, attempt: int | None = None, owner: str | None = None
    ) -> str | None:
        ctx = worker_context(settings, task.app)
        if attempt is not None:  # a retry after the store failed this attempt (in `owner`)
            retried = Claim(job_id=job_id, attempt=attempt)
            return _run(task, ctx, retried, resumed=True, owner=owner)
        try:
            claim = _claim_next(ctx, task.app, job_id)
        except TransientError as exc:
            raise task.retry(
                countdown=backoff_seconds(task.request.retries),
                max_retries=TRANSIENT_RETRIES,
                exc=exc,
            ) from exc
        return _run(task, ctx, claim)

    @app.task(name=TASK_CHUNK, bind=True)  # type: ignore[untyped-decorator]
    def run_chunk(
        task: Task,
        job_id: str,
        number: int,
        attempt: int | None = None,
        owner: str | None = None,
    ) -> str | None:
        ctx = worker_context(settings, task.app)
        if attempt is not None:  # a retry after the store failed this attempt (in `owner`)
            retried = Claim(job_id=job_id, attempt=attempt, chunk=number)
            return _run(task, ctx, retried, resumed=True, owner=owner)
        try:
            claim = chunk_repo.claim_chunk(
                ctx.db,
                job_id=job_id,
                number=number,
                owner=ctx.owner,
                lease_seconds=settings.lease_seconds,
            )
        except TransientError as exc:
            raise task.retry(
                countdown=backoff_seconds(task.request.retries),
                max_retries=TRANSIENT_RETRIES,
                exc=exc,
            ) from exc
        return _run(task, ctx, claim)

    @app.task(name=TASK_SWEEP, bind=True)  # type: ignore[untyped-decorator]
    def sweep(task: Task) -> int:
        """The sweeper as a Celery beat task (``pdfq worker --beat``)."""
        db = worker_context(settings, task.app).db
        return SweeperThread(settings, db, CeleryQueue.sender(app), lambda: backlog(app)).run_once()


def _claim_next(ctx: WorkerContext, app: Celery, job_id: str) -> Claim | None:
    """A job message is a turn to run *a* job: the next one in the store's order (priority,
    then the fair order across tenants), not necessarily the one it names, so a tenant's
    10,000 messages queued first do not make everyone else wait. Every queued job has a
    message, so every job still gets a turn; a duplicate finds nothing and does nothing.
    When nothing can be taken but the named job still waits (its tenant is at its running
    limit, or it is backing off), the message is sent again a little later."""
    settings = ctx.settings
    claim = repo.claim_next(
        ctx.db,
        owner=ctx.owner,
        lease_seconds=settings.lease_seconds,
        max_running=settings.tenant_max_running,
    )
    if claim is None:
        waiting = repo.get_job(ctx.db, job_id=job_id)
        if waiting is not None and waiting.status == JobStatus.QUEUED:
            send(app, job_id, delay=RECHECK_SECONDS)
    return claim


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_after_fork(**_kwargs: Any) -> None:
    # A pool process must build its own context (database connections are not fork-safe).
    global _context
    _context = None
    # At once, not with the context: a cancel may ask this process to check its job while it
    # still builds it, and SIGUSR2 would otherwise end the process.
    signal.signal(signal.SIGUSR2, _on_cancel_signal)


@control_command(args=[("job_id", str)], signature="<job_id>")  # type: ignore[untyped-decorator]
def pdfq_cancel(state: Any, job_id: str) -> dict[str, Any]:
    """Remote control: make every pool process running pdfq work check its job now (SIGUSR2).

    Not only the process whose message named the job: a job message is a turn, and the job
    it claimed may be another. The one running the canceled job stops at its next page, or
    is killed by its watchdog after ``STOP_GRACE_SECONDS``."""
    from celery.worker import state as worker_state

    pids = {
        request.worker_pid
        for request in list(worker_state.active_requests)
        if request.name in (TASK_JOB, TASK_CHUNK) and request.worker_pid
    }
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR2)
    return {"ok": f"asked {len(pids)} process(es) to check job {job_id}"}


# --- API side -------------------------------------------------------------------------------


def send(app: Celery, job_id: str, chunk: int | None = None, delay: float = 0.0) -> None:
    """Publish the message for a job, or for one chunk of it."""
    countdown = delay if delay > 0 else None
    if chunk is None:
        app.send_task(TASK_JOB, args=[job_id], queue=JOBS_QUEUE, countdown=countdown)
    else:
        app.send_task(TASK_CHUNK, args=[job_id, chunk], queue=CHUNKS_QUEUE, countdown=countdown)


def send_or_leave_to_sweeper(
    app: Celery, job_id: str, chunk: int | None = None, delay: float = 0.0
) -> None:
    """Publish, or leave it to the sweeper when the broker cannot be reached: the work is
    stored already, and the sweeper re-sends messages the broker does not hold
    (``resend_lost``). A broker hiccup must not fail a job that is fine."""
    try:
        send(app, job_id, chunk, delay)
    except Exception as exc:
        log.warning(
            "could not publish; the sweeper will", job_id=job_id, chunk=chunk, error=str(exc)
        )


def backlog(app: Celery) -> int:
    """Messages waiting in pdfq's queues on the broker (a queue not yet created holds none)."""
    total = 0
    with app.connection_for_read() as conn:
        for name in (JOBS_QUEUE, CHUNKS_QUEUE):
            # A failed passive declare closes its channel on AMQP: one channel per queue.
            channel = conn.channel()
            try:
                total += channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:
                pass
            finally:
                channel.close()
    return total


def live_workers(app: Celery, *, host: str | None = None, timeout: float = 1.0) -> list[str]:
    """The names of the pdfq workers that answer a ping (those of one host, if given)."""
    replies = app.control.ping(timeout=timeout) or []
    names = [name for reply in replies for name in reply]
    if host is not None:
        names = [n for n in names if n.endswith(f"@{host}")]
    return names


class CeleryQueue:
    """The API side: publishes job ids, asks workers to cancel, checks the broker, runs the
    sweeper (one active across API hosts) and relays notifications from workers."""

    def __init__(self, settings: Settings, db: Database, *, notify: Notify | None = None) -> None:
        self.settings = settings
        self.db = db
        self.app = create_celery(settings)
        self._listener = bus.Listener(db, notify) if notify and not db.is_sqlite else None
        # Ends reach the API through PostgreSQL's NOTIFY; SQLite has no such channel.
        self.announces_ends = self._listener is not None
        self._sweeper = SweeperThread(
            settings, db, self.sender(self.app), lambda: backlog(self.app)
        )
        self._workers_seen_at = -1e9

    @staticmethod
    def sender(app: Celery) -> Any:
        return lambda job_id, chunk, delay: send(app, job_id, chunk, delay)

    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()
        self._sweeper.start()

    def stop(self, grace_seconds: float = 10.0) -> None:
        self._sweeper.stop()
        if self._listener is not None:
            self._listener.stop()

    def enqueue(self, job_id: str, *, priority: int = 0) -> None:
        send_or_leave_to_sweeper(self.app, job_id)

    def cancel(self, job_id: str) -> None:
        self.app.control.broadcast("pdfq_cancel", arguments={"job_id": job_id})

    def check(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            raise Unavailable(f"broker unreachable: {exc}") from exc
        now = time.monotonic()
        if now - self._workers_seen_at > WORKERS_SEEN_SECONDS:
            if not live_workers(self.app):
                raise Unavailable("no pdfq worker answered a ping over the broker")
            self._workers_seen_at = now
