"""The webhook outbox: one delivery per ended job that asked for one, kept until it is
delivered or its attempts are used up.

A delivery is inserted by the transaction that ends its job (:func:`enqueue`), so it exists
exactly when the job ended, survives any restart, and is never created twice. Senders claim a
due delivery with a compare-and-set on its attempt counter, which also holds it for the
length of one attempt; a sender that dies mid-attempt only delays it. Each attempt's outcome
is recorded with an event on the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pdfq.domain import new_id
from pdfq.store.db import Database
from pdfq.store.events import insert_events
from pdfq.store.tables import webhook_deliveries as deliveries

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    job_id: str
    url: str
    event: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__slots__})


def enqueue(
    conn: Connection, *, job_id: str, url: str, event: str, payload: str, now: datetime
) -> str:
    """Record a delivery to make (inside the transaction that ends the job)."""
    delivery_id = new_id()
    conn.execute(
        insert(deliveries).values(
            id=delivery_id,
            job_id=job_id,
            url=url,
            event=event,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


def claim_due(
    db: Database, *, now: datetime, hold_seconds: float, limit: int = 20
) -> list[Delivery]:
    """Take deliveries whose next attempt is due, each held for ``hold_seconds`` (one attempt's
    time limit and a margin): another sender takes it again only if this one vanished."""
    candidates = (
        select(deliveries.c.id, deliveries.c.attempts)
        .where(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    with db.read() as conn:  # usually nothing is due: no write transaction for that
        due = conn.execute(candidates).all()
    if not due:
        return []
    taken = []
    with db.write() as conn:
        for row in due:
            claimed = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == row.id,
                    deliveries.c.status == PENDING,
                    deliveries.c.attempts == row.attempts,
                )
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=hold_seconds),
                    updated_at=now,
                )
                .returning(deliveries)
            ).first()
            if claimed is not None:
                taken.append(Delivery.from_row(claimed))
    return taken


def _this_attempt(delivery: Delivery) -> Any:
    """The delivery still held by this attempt: its outcome is recorded at most once (the
    hold set by the claim is replaced by the retry time, or the status changes)."""
    return (
        (deliveries.c.id == delivery.id)
        & (deliveries.c.status == PENDING)
        & (deliveries.c.attempts == delivery.attempts)
        & (deliveries.c.next_attempt_at == delivery.next_attempt_at)
    )


def record_delivered(
    db: Database, *, delivery: Delivery, status_code: int, seconds: float, now: datetime
) -> bool:
    """The attempt succeeded. ``False`` if the attempt no longer owned the delivery."""
    with db.write() as conn:
        done = conn.execute(
            update(deliveries)
            .where(_this_attempt(delivery))
            .values(status=DELIVERED, delivered_at=now, updated_at=now, last_error=None)
        ).rowcount
        if done == 1:
            data = {
                "delivery": delivery.id,
                "attempt": delivery.attempts,
                "status_code": status_code,
                "seconds": round(seconds, 3),
            }
            insert_events(conn, delivery.job_id, [("webhook_delivered", data)], now)
    return done == 1


def record_failed(
    db: Database,
    *,
    delivery: Delivery,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> bool:
    """The attempt failed: try again at ``retry_at``, or give up when it is ``None``."""
    values: dict[str, Any] = {"last_error": error, "updated_at": now}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    with db.write() as conn:
        done = conn.execute(
            update(deliveries).where(_this_attempt(delivery)).values(values)
        ).rowcount
        if done == 1:
            data: dict[str, Any] = {
                "delivery": delivery.id,
                "attempt": delivery.attempts,
                "error": error,
            }
            if retry_at is not None:
                data["retry_at"] = retry_at.isoformat()
            kind = "webhook_failed" if retry_at is not None else "webhook_gave_up"
            insert_events(conn, delivery.job_id, [(kind, data)], now)
    return done == 1


def release(db: Database, *, delivery: Delivery, now: datetime) -> bool:
    """Give back an attempt that was stopped before it had an outcome (a shutdown): the
    delivery is due again at once instead of after its hold."""
    with db.write() as conn:
        done = conn.execute(
            update(deliveries).where(_this_attempt(delivery)).values(next_attempt_at=now)
        ).rowcount
    return done == 1


def list_deliveries(db: Database, *, job_id: str) -> list[Delivery]:
    query = select(deliveries).where(deliveries.c.job_id == job_id).order_by(deliveries.c.id)
    with db.read() as conn:
        return [Delivery.from_row(r) for r in conn.execute(query)]


def next_due(db: Database) -> datetime | None:
    """When the earliest pending delivery is due (senders sleep until then)."""
    query = (
        select(deliveries.c.next_attempt_at)
        .where(deliveries.c.status == PENDING)
        .order_by(deliveries.c.next_attempt_at)
        .limit(1)
    )
    with db.read() as conn:
        value: datetime | None = conn.execute(query).scalar()
    return value
