"""Job notifications across hosts through PostgreSQL (``NOTIFY`` / ``LISTEN``).

On PostgreSQL the database announces every statement that adds job events (finished pages
are events too): a trigger on ``events`` (migration 0007) sends one notification per job,
``{"kind": "job", "data": {"job_id": …, "events": [types]}}``, delivered when — and only if —
the transaction commits, so listeners never hear of a change before it is visible. A job's end
also carries the job as it ended (``"job"``, migration 0009; :func:`ended_job`), so a request
waiting for that end answers without reading the job again. A job's arrival is not announced
(nobody can be watching it yet). Changes without events (cancel,
retry, delete from the API) are announced with :func:`publish`. Each API process listens on
one connection and fans every notification out to its waiting requests. Nothing is stored: a
missed notification only delays a watcher until it re-reads the store (long polls re-read
every second anyway).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text

from pdfq.domain import Job
from pdfq.store.db import Database
from pdfq.store.jobs import PUBLIC_COLUMNS, public_job

log = structlog.get_logger(__name__)

CHANNEL = "pdfq_jobs"

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def _payload(kind: str, data: dict[str, Any]) -> str:
    # Small by design (a job id, a status): PostgreSQL caps payloads at 8000 bytes, and
    # listeners read the rest from the store. The trigger of migration 0007 writes the same
    # shape for events.
    return json.dumps({"kind": kind, "data": data}, separators=(",", ":"))


def publish(db: Database, kind: str, data: dict[str, Any]) -> None:
    """Send a notification (PostgreSQL only; a no-op on SQLite)."""
    if db.is_sqlite:
        return
    try:
        with db.engine.connect() as conn:
            conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": _payload(kind, data)})
            conn.commit()
    except Exception as exc:  # notifications are best effort; the store stays the truth
        log.warning("could not publish a notification", error=str(exc))


_TIMES = tuple(name for name in PUBLIC_COLUMNS if name.endswith("_at"))  # JSON text, UTC


def ended_job(data: Mapping[str, Any]) -> tuple[str, Job] | None:
    """The job an ending's notification carries, with its tenant; ``None`` when it carries
    none (or one this version cannot read: the caller then reads the store)."""
    values = data.get("job")
    if not isinstance(values, dict):
        return None
    try:
        times = {
            name: datetime.fromisoformat(values[name]).replace(tzinfo=UTC)
            if values[name] is not None
            else None
            for name in _TIMES
        }
        return values["tenant"], public_job({**values, **times})
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError included
        log.warning("unreadable job in a notification", error=str(exc))
        return None


class Listener:
    """Receives notifications on a background thread and hands them to ``deliver``."""

    def __init__(self, db: Database, deliver: Callable[[str, dict[str, Any]], None]) -> None:
        # The engine's own connection parameters: a URL of several hosts (?host=a&host=b,
        # for fail-over) means the same here as for the pool, which a rendered URL would not.
        _, params = db.engine.dialect.create_connect_args(db.url)
        params.pop("context", None)  # SQLAlchemy's type adapters, not a libpq parameter
        self._params: dict[str, Any] = {"connect_timeout": 5, **params}
        self._deliver = deliver
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pdfq-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg  # the distributed extra; the embedded shape never listens

        pause = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **self._params) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    pause = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            message = json.loads(note.payload)
                            self._deliver(message["kind"], message["data"])
            except Exception as exc:  # connection lost: reconnect with a growing pause
                if not self._stop.is_set():
                    log.warning("notification listener reconnecting", error=str(exc))
                    self._stop.wait(pause)
                    pause = min(pause * 2, 10.0)
