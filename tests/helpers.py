"""Helpers shared by the tests: submitting, waiting, and a real `pdfq serve` process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from alembic import command

from pdfq import results
from pdfq.domain import Options, new_id
from pdfq.store import Database
from pdfq.store import jobs as repo
from pdfq.store.jobs import NewJob, PageRecord
from pdfq.store.migrate import alembic_config
from pdfq.worker.context import WorkerContext

TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def new_job(**fields: Any) -> NewJob:
    """A one-byte upload's job for store tests (a fresh id; any field can be given)."""
    defaults: dict[str, Any] = {
        "id": new_id(),
        "filename": "a.pdf",
        "size_bytes": 1,
        "sha256": "0" * 64,
        "options": Options(),
    }
    return NewJob(**(defaults | fields))


def page_record(number: int, attempt: int = 1, **ocr: Any) -> PageRecord:
    """An indexed page whose fields follow its number (an OCR page when ``ocr`` is given)."""
    return PageRecord(
        number=number,
        attempt=attempt,
        method="ocr" if ocr else "text",
        chars=10 * number,
        tables=number % 2,
        batch=f"{number:06d}.jsonl",
        offset=100 * number,
        length=7,
        **ocr,
    )


def downgrade(db: Database, revision: str) -> None:
    """Take the store's schema back to an earlier migration."""
    config = alembic_config(db)
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def submit(
    client: httpx.Client,
    data: bytes,
    name: str = "doc.pdf",
    *,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"file": (name, data, "application/pdf")},
        data={**(form or {}), **fields},
        headers=headers,
    )


def wait_job(
    client: httpx.Client,
    job_id: str,
    until: Iterable[str] = TERMINAL,
    timeout: float = 30.0,
    predicate: Any = None,
) -> dict[str, Any]:
    """Poll until the job reaches one of ``until`` (or ``predicate(job)`` holds)."""
    wanted = set(until)
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if predicate(job) if predicate else job["status"] in wanted:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {wanted or predicate} in {timeout}s: {job}")


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def kill_while_running(queue: Any, job_id: str, timeout: float = 30.0) -> int:
    """SIGKILL the local worker process running ``job_id`` (or one of its chunks) while it
    still is, and return its pid.

    The dispatcher hears that a chunk ended a moment after the worker finished it, so a pid
    read from it may belong to a worker already between chunks, and killing that one costs
    no work at all. The worker is stopped first and killed only if the dispatcher, having
    read whatever the worker sent before it stopped, still has it on the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = queue.running_pid(job_id)
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.2)
            if queue.running_pid(job_id) == pid:
                os.kill(pid, signal.SIGKILL)
                return int(pid)
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"no worker ran job {job_id} within {timeout}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lease_owner_pid(data_dir: Path, job_id: str) -> int | None:
    """The pid holding a running job's lease (read straight from the SQLite store)."""
    with sqlite3.connect(data_dir / "pdfq.db") as conn:
        row = conn.execute("SELECT lease_owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if not row or not row[0]:
        return None
    return int(row[0].rpartition(":")[2])


def events_of(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/events")
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


class LiveServer:
    """``pdfq serve`` in its own process group, on a free port, with a private data folder."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PDFQ_DATA_DIR": str(data_dir),
            "PDFQ_PORT": str(self.port),
            "PDFQ_LOG_FORMAT": "json",
            "PDFQ_WORKERS": "2",
            "PDFQ_ACCESS_LOG": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pdfq.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Not left running: the next test would fail on its ResourceWarning instead.
        self.kill_group()
        raise RuntimeError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as an orchestrator would; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise

    def kill_group(self) -> None:
        """SIGKILL the server and every process it started (a machine crash, as seen by jobs)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Cluster:
    """The distributed shape on this machine: one `pdfq serve` and `pdfq worker` processes
    (Celery) sharing a real PostgreSQL database, a Redis broker and an S3 bucket."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.api = LiveServer(folder / "api", **env)
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int = 2, concurrency: int = 1) -> Cluster:
        for _ in range(workers):
            self.add_worker(concurrency)
        self.api.start()
        return self

    def add_worker(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / f"worker-{len(self.workers)}.log"
        env = {**os.environ, "PDFQ_LOG_FORMAT": "json", **self.env}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pdfq.cli", "worker", f"--concurrency={concurrency}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(process)
        return process

    def pool_pids(self, worker: subprocess.Popen[bytes]) -> list[int]:
        """The Celery pool processes (children) of one worker."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        fields = f.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == worker.pid and fields[0] != b"Z":
                    children.append(int(entry))
        return children

    def wait_for_workers(self, timeout: float = 60.0) -> None:
        """Until every worker's pool process is up."""
        wait_until(
            lambda: all(self.pool_pids(w) for w in self.workers if w.poll() is None), timeout
        )

    def client(self) -> httpx.Client:
        return self.api.client()

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        for worker in self.workers:
            self.kill_worker(worker)
        self.api.kill_group()


def add_job(ctx: WorkerContext, data: bytes, *, password: str | None = None, **options: Any) -> str:
    """Store ``data`` as a job's input and create the queued job (no HTTP involved)."""
    job_id = new_id()
    ctx.blobs.put(results.input_key(job_id), data)
    new = NewJob(
        id=job_id,
        filename="doc.pdf",
        size_bytes=len(data),
        sha256="0" * 64,
        options=Options(**options),
        secret=ctx.secrets.encrypt(password) if password else None,
    )
    repo.create_job(ctx.db, new=new)
    return job_id


class WebhookReceiver:
    """A real HTTP server that takes webhook calls, answering each with the next status of
    ``statuses`` (the last one repeats), and keeps every call it received."""

    def __init__(self, statuses: Iterable[int] = (200,), port: int | None = None) -> None:
        import http.server
        import threading

        self.statuses = list(statuses)
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.calls.append((dict(self.headers.items()), body))
                    index = min(len(receiver.calls), len(receiver.statuses)) - 1
                    status = receiver.statuses[index]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_sse(lines: Iterable[str]) -> list[tuple[str, int | None, dict[str, Any]]]:
    """Server-sent events as ``(event, id, data)`` until the stream ends."""
    import json

    messages: list[tuple[str, int | None, dict[str, Any]]] = []
    event, event_id, data = "message", None, ""
    for line in lines:
        if line == "":
            if data:
                messages.append((event, event_id, json.loads(data)))
            event, event_id, data = "message", None, ""
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data += line[6:]
    return messages


def overtaking(theirs: list[dict[str, Any]], mine: dict[str, Any]) -> tuple[int, int]:
    """Of another tenant's jobs, how many were still waiting when ``mine`` was created, and how
    many of those started before it (fair scheduling keeps the second number small)."""
    waiting = [j for j in theirs if j["started_at"] is None or j["started_at"] > mine["created_at"]]
    overtook = [j for j in waiting if j["started_at"] and j["started_at"] < mine["started_at"]]
    return len(waiting), len(overtook)
