"""The worker process of the local pool: runs the jobs its dispatcher sends, one at a time.

Messages from the dispatcher: ``("run", job_id, attempt)``, ``("cancel", job_id)``,
``("stop",)``. Messages back: ``("notify", kind, data)`` for live progress and
``("done", job_id, status)``. A reader thread takes the pipe so a cancel reaches the running
job at once; the job stops at its next page, or the dispatcher kills this process.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from pdfq.config import Settings
from pdfq.logs import configure_logging
from pdfq.store.jobs import Claim
from pdfq.worker.context import JobControl, build_worker_context
from pdfq.worker.pipeline import process_job


def child_main(conn: Connection, settings: Settings) -> None:
    # Ctrl-C reaches the whole process group; the dispatcher decides what happens to jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Tesseract's OpenMP threads thrash when several processes each start one per core.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    configure_logging(settings)
    ctx = build_worker_context(settings)
    inbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    running: dict[str, JobControl] = {}
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the dispatcher is gone
                inbox.put(None)
                return
            if message[0] == "cancel":
                control = running.get(message[1])
                if control is not None:
                    control.canceled.set()
            else:
                inbox.put(message)

    threading.Thread(target=read, name="pdfq-child-reader", daemon=True).start()

    def notify(kind: str, data: dict[str, Any]) -> None:
        send(("notify", kind, data))

    while (message := inbox.get()) is not None and message[0] == "run":
        _, job_id, attempt = message
        claim = Claim(job_id=job_id, attempt=attempt)
        control = ctx.control_for(claim)
        running[job_id] = control
        try:
            outcome = process_job(ctx, claim, control=control, notify=notify)
        finally:
            running.pop(job_id, None)
        send(("done", job_id, outcome.status.value if outcome.status else None))
    ctx.db.dispose()
