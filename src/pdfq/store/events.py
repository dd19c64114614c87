"""Job events: the per-job history of transitions and notable steps (DESIGN §3).

Events are written in the same transaction as the state change they describe, so the history
never disagrees with the job row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from pdfq.domain import Event
from pdfq.store.db import Database
from pdfq.store.tables import events

EventDraft = tuple[str, dict[str, Any]]
"""An event before it is stored: ``(type, data)``."""


_INSERT = insert(events)


def insert_events(
    conn: Connection, job_id: str, drafts: Iterable[EventDraft], now: datetime
) -> None:
    rows = [{"job_id": job_id, "type": kind, "at": now, "data": data} for kind, data in drafts]
    if rows:
        conn.execute(_INSERT, rows)


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
