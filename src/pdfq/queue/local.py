"""The local queue: a dispatcher thread in the server supervising a pool of worker processes.

The store is the queue: when jobs arrive the dispatcher wakes the idle worker processes, and
each claims queued jobs from the store until none is left (claiming there keeps the work off
the API process). The dispatcher supervises every process:

* a process that dies (segfault, OOM kill, SIGKILL) loses only its own job, which is re-queued
  until ``max_attempts`` and then failed with ``worker_lost``; a fresh process takes its place;
* a job past its hard time limit has its process killed (re-queued, then ``timeout``);
* a process whose resident memory passes ``worker_max_memory_mb`` is killed the same way;
* a canceled job is told to stop and, if it has not within 1.5 s, its process is killed;
* processes are replaced after ``worker_max_jobs`` jobs.

Processes are started from a fork server with pdfq preloaded, so replacing one is cheap and
never forks the threaded server process itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from pdfq.config import Settings
from pdfq.domain import ErrorCode
from pdfq.errors import PdfqError, Unavailable
from pdfq.queue import Notify
from pdfq.store import Database
from pdfq.store.jobs import Claim
from pdfq.worker.context import rss_bytes
from pdfq.worker.sweeper import give_back, sweep

log = structlog.get_logger(__name__)

CANCEL_KILL_SECONDS = 1.5
MEMORY_CHECK_SECONDS = 0.25
IDLE_POLL_SECONDS = 2.0  # idle workers look for jobs this often even without a wake-up


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it vanished"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    spawned_at: float = field(default_factory=time.monotonic)
    claim: Claim | None = None
    working: bool = False  # told to claim jobs and has not reported idle since
    deadline: float = 0.0
    jobs_run: int = 0
    cancel_by: float | None = None
    kill_reason: tuple[str, ErrorCode] | None = None
    retiring: bool = False


class LocalQueue:
    """Embedded queue kind (``PDFQ_QUEUE=local``)."""

    def __init__(self, settings: Settings, db: Database, *, notify: Notify | None = None) -> None:
        self.settings = settings
        self.db = db
        self._notify = notify
        self.announces_ends = notify is not None
        self._mp = multiprocessing.get_context("forkserver")
        # The table geometry (pdfplumber.table) is imported on a page's first table; loaded
        # in the fork server, every worker process starts with it.
        self._mp.set_forkserver_preload(["pdfq.worker.child", "pdfplumber.table"])
        self._workers: list[_Worker] = []
        self._commands: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._spawn_failures = 0
        self._next_spawn = 0.0
        self._grace = 10.0
        self._wake_pending = True

    # --- the Queue protocol (called from any thread) --------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pdfq-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, grace_seconds: float = 10.0) -> None:
        if self._stopping.is_set():
            return
        self._grace = grace_seconds
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(grace_seconds + 15)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def enqueue(self, job_id: str, *, priority: int = 0) -> None:
        self._wake()

    def cancel(self, job_id: str) -> None:
        self._commands.put(("cancel", job_id))
        self._wake()

    def check(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            raise Unavailable("the dispatcher is not running")
        if not any(w.process.is_alive() for w in list(self._workers)):
            raise Unavailable("no worker process is alive")

    @property
    def busy_workers(self) -> int:
        return sum(1 for w in list(self._workers) if w.claim is not None)

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in list(self._workers) if w.process.pid is not None]

    def running_pid(self, job_id: str) -> int | None:
        """The process running ``job_id`` now (tests use it to kill a job's worker)."""
        for w in list(self._workers):
            if w.claim is not None and w.claim.job_id == job_id:
                return w.process.pid
        return None

    def _wake(self) -> None:
        # Failing means a wake-up is already pending (or we are shutting down).
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    # --- the dispatcher thread ------------------------------------------------------------

    def _run(self) -> None:
        next_sweep = 0.0
        next_memory_check = 0.0
        next_poll = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                self._handle_commands()
                self._reap()
                self._enforce_limits(now, check_memory=now >= next_memory_check)
                if now >= next_memory_check:
                    next_memory_check = now + MEMORY_CHECK_SECONDS
                self._top_up(now)
                if now >= next_sweep:
                    self._wake_pending |= self._sweep()
                    next_sweep = now + self.settings.sweep_interval_seconds
                if self._wake_pending or now >= next_poll:
                    self._wake_pending = False
                    next_poll = now + IDLE_POLL_SECONDS
                    self._put_idle_to_work()
                self._wait(0.2)
            self._drain()
        except Exception:
            log.exception("dispatcher crashed")
            raise
        finally:
            self._stopped.set()

    def _wait(self, timeout: float) -> None:
        watched: list[Any] = [self._wake_r]
        for w in self._workers:
            watched += [w.conn, w.process.sentinel]
        for ready in wait(watched, timeout):
            if ready == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
                self._wake_pending = True
                continue
            for w in self._workers:
                if ready is w.conn:
                    self._receive(w)

    def _receive(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                kind = message[0]
                if kind == "notify":
                    self._emit(message[1], message[2])
                elif kind == "started":
                    _, job_id, attempt, chunk = message
                    worker.claim = Claim(job_id=job_id, attempt=attempt, chunk=chunk)
                    worker.deadline = time.monotonic() + self.settings.job_hard_time_limit_seconds
                    worker.kill_reason = None
                    self._emit("job", {"job_id": job_id, "status": "running"})
                elif kind == "done":
                    _, job_id, status = message
                    worker.claim = None
                    worker.cancel_by = None
                    worker.jobs_run += 1
                    self._emit("job", {"job_id": job_id, "status": status})
                    if worker.jobs_run >= self.settings.worker_max_jobs:
                        self._retire(worker)
                elif kind == "idle":
                    worker.working = False
                elif kind == "wake":
                    self._wake_pending = True
        except (EOFError, OSError):
            pass  # the process died; _reap handles it

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._notify is not None:
            try:
                self._notify(kind, data)
            except Exception:
                log.exception("notification listener failed")

    def _handle_commands(self) -> None:
        while True:
            try:
                command, job_id = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == "cancel":
                for w in self._workers:
                    if w.claim is not None and w.claim.job_id == job_id:
                        self._send(w, ("cancel", job_id))
                        w.cancel_by = time.monotonic() + CANCEL_KILL_SECONDS

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> bool:
        try:
            worker.conn.send(message)
            return True
        except (OSError, ValueError):
            return False

    # --- supervision ----------------------------------------------------------------------

    def _spawn(self) -> None:
        from pdfq.worker.child import child_main

        parent_conn, child_conn = self._mp.Pipe(duplex=True)
        process = self._mp.Process(
            target=child_main, args=(child_conn, self.settings), name="pdfq-worker", daemon=True
        )
        process.start()
        child_conn.close()
        self._workers.append(_Worker(process=process, conn=parent_conn))
        self._wake_pending = True  # a new process looks for queued jobs at once
        log.debug("worker process started", pid=process.pid)

    def _top_up(self, now: float) -> None:
        if self._stopping.is_set() or now < self._next_spawn:
            return
        live = sum(1 for w in self._workers if not w.retiring)
        for _ in range(self.settings.workers - live):
            try:
                self._spawn()
            except OSError:
                log.exception("cannot start a worker process")
                self._next_spawn = now + 5
                return

    def _kill(self, worker: _Worker, reason: str, code: ErrorCode) -> None:
        if worker.kill_reason is None:
            worker.kill_reason = (reason, code)
        if worker.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGKILL)

    def _retire(self, worker: _Worker) -> None:
        worker.retiring = True
        self._send(worker, ("stop",))

    def _reap(self) -> None:
        for worker in list(self._workers):
            if worker.process.is_alive():
                continue
            self._receive(worker)  # a last "done" may still sit in the pipe
            worker.process.join(0)
            self._workers.remove(worker)
            worker.conn.close()
            lifetime = time.monotonic() - worker.spawned_at
            if worker.claim is None:
                if not worker.retiring and not self._stopping.is_set():
                    log.warning(
                        "idle worker process exited", why=_describe_exit(worker.process.exitcode)
                    )
                    self._back_off(lifetime)
                continue
            reason, code = worker.kill_reason or (
                f"the worker process died ({_describe_exit(worker.process.exitcode)})",
                ErrorCode.WORKER_LOST,
            )
            claim = worker.claim
            try:
                status, requeued = give_back(
                    self.db,
                    claim,
                    reason=reason,
                    max_attempts=self.settings.max_attempts,
                    final_code=code,
                )
                self._wake_pending |= requeued
            except PdfqError:
                log.exception(
                    "could not re-queue a lost job; the sweeper will", job_id=claim.job_id
                )
                continue
            log.warning(
                "worker process lost its job", job_id=claim.job_id, reason=reason, now=status
            )
            self._emit("job", {"job_id": claim.job_id, "status": status.value if status else None})

    def _back_off(self, lifetime: float) -> None:
        # Processes dying at start-up (a broken install) must not spin the dispatcher.
        if lifetime < 5:
            self._spawn_failures += 1
            self._next_spawn = time.monotonic() + min(30.0, 0.5 * 2**self._spawn_failures)
        else:
            self._spawn_failures = 0

    def _enforce_limits(self, now: float, *, check_memory: bool) -> None:
        cap = self.settings.worker_max_memory_mb * 1024 * 1024
        for worker in self._workers:
            if worker.claim is None or worker.kill_reason is not None:
                continue
            if worker.cancel_by is not None and now > worker.cancel_by:
                self._kill(worker, "canceled", ErrorCode.CANCELED)
            elif now > worker.deadline:
                limit = self.settings.job_hard_time_limit_seconds
                self._kill(
                    worker, f"the job passed its hard time limit ({limit:g} s)", ErrorCode.TIMEOUT
                )
            elif check_memory and worker.process.pid and rss_bytes(worker.process.pid) > cap:
                self._kill(
                    worker,
                    f"the worker passed its memory cap ({self.settings.worker_max_memory_mb} MiB)",
                    ErrorCode.WORKER_LOST,
                )

    def _sweep(self) -> bool:
        """Give back jobs of dead workers; True when some were re-queued."""
        try:
            return (
                sweep(
                    self.db,
                    max_attempts=self.settings.max_attempts,
                    check_local_owners=self.db.is_sqlite,
                    skip=frozenset(
                        (w.claim.job_id, w.claim.chunk) for w in self._workers if w.claim
                    ),
                )
                > 0
            )
        except PdfqError as exc:
            log.warning("sweep failed", error=str(exc))
            return False

    def _put_idle_to_work(self) -> None:
        for worker in self._workers:
            if worker.working or worker.retiring or not worker.process.is_alive():
                continue
            if self._send(worker, ("work",)):
                worker.working = True

    def _drain(self) -> None:
        """Shutdown: let running jobs finish within the grace period, then hand them back."""
        for worker in self._workers:
            self._send(worker, ("stop",))  # finish the current job, claim no other
        deadline = time.monotonic() + self._grace
        while any(w.claim for w in self._workers) and time.monotonic() < deadline:
            self._reap()
            self._wait(0.1)
        for worker in self._workers:
            if worker.claim is not None:
                claim = worker.claim
                self._kill(worker, "server shutting down", ErrorCode.WORKER_LOST)
                try:
                    give_back(
                        self.db,
                        claim,
                        reason="the server shut down",
                        max_attempts=self.settings.max_attempts,
                        count_attempt=False,
                    )
                except PdfqError:
                    log.exception(
                        "could not hand a job back; the sweeper will", job_id=claim.job_id
                    )
                worker.claim = None
        for worker in self._workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1)
            worker.conn.close()
        self._workers.clear()
