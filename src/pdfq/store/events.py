"""Job events: the per-job history of transitions and notable steps (DESIGN §3).

Events are written in the same transaction as the state change they describe, so the history
never disagrees with the job row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from pdfq.domain import Event
from pdfq.store.db import Database
from pdfq.store.notify import in_transaction
from pdfq.store.tables import events

EventDraft = tuple[str, dict[str, Any]]
"""An event before it is stored: ``(type, data)``."""


_INSERT = insert(events)


def insert_events(
    conn: Connection,
    job_id: str,
    drafts: Iterable[EventDraft],
    now: datetime,
    *,
    pages: Sequence[dict[str, Any]] = (),
    notify: bool = True,
) -> None:
    """Insert event rows and (on PostgreSQL) announce them, with ``pages`` just finished, in
    one notification sent when the transaction commits."""
    rows = [{"job_id": job_id, "type": kind, "at": now, "data": data} for kind, data in drafts]
    if rows:
        conn.execute(_INSERT, rows)
    if notify and rows:
        note: dict[str, Any] = {"job_id": job_id, "events": [r["type"] for r in rows]}
        if pages:
            note["pages"] = list(pages)
        in_transaction(conn, "job", note)
    elif notify and pages:
        in_transaction(conn, "pages", {"job_id": job_id, "pages": list(pages)})


def add_events(db: Database, *, job_id: str, drafts: Iterable[EventDraft], now: datetime) -> None:
    with db.write() as conn:
        insert_events(conn, job_id, drafts, now)


def list_events(db: Database, *, job_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
    """The job's events in order, those with ``id > after_id`` (for resuming a stream)."""
    query = (
        select(events)
        .where(events.c.job_id == job_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    with db.read() as conn:
        return [
            Event(id=r.id, job_id=r.job_id, type=r.type, at=r.at, data=r.data)
            for r in conn.execute(query)
        ]
