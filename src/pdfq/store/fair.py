"""Fair scheduling across tenants: start-time fair queueing over queued jobs and chunks.

Every unit of work (a queued job, or a chunk of a fanned-out job) gets a ``fair_rank`` when
it is queued; workers take the highest priority first, then the lowest rank. A tenant's new
units are ranked after its own queued units, but never before the *virtual time* — the
lowest rank still queued. So a tenant that queues 10,000 files gets ranks ``V … V+9,999``;
another tenant's single upload arriving later gets rank ``V'`` (the virtual time then) and runs
as soon as a worker frees up, instead of after the 10,000. Only queued units are compared, so
ranks can start again from 0 whenever the queue empties.

Optionally, a tenant with ``max_running`` units running is skipped until one ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all

from pdfq.store.tables import chunks, jobs

QUEUED = "queued"
RUNNING = "running"


def virtual_time(conn: Connection) -> int:
    """The lowest rank still queued (0 when nothing is)."""
    lowest = [
        conn.execute(select(func.min(table.c.fair_rank)).where(table.c.status == QUEUED)).scalar()
        for table in (jobs, chunks)
    ]
    present = [value for value in lowest if value is not None]
    return min(present) if present else 0


def first_rank(conn: Connection, tenant: str, now_virtual: int | None = None) -> int:
    """The rank of ``tenant``'s next unit of work."""
    virtual = virtual_time(conn) if now_virtual is None else now_virtual
    highest = [
        conn.execute(
            select(func.max(table.c.fair_rank)).where(
                table.c.tenant == tenant, table.c.status == QUEUED
            )
        ).scalar()
        for table in (jobs, chunks)
    ]
    present = [value for value in highest if value is not None]
    return max(virtual, max(present) + 1) if present else virtual


def assign(conn: Connection, tenants: Iterable[str]) -> list[int]:
    """Ranks for new units of these tenants, in order (a tenant's units follow each other)."""
    virtual = virtual_time(conn)
    following: dict[str, int] = {}
    ranks = []
    for tenant in tenants:
        if tenant not in following:
            following[tenant] = first_rank(conn, tenant, virtual)
        ranks.append(following[tenant])
        following[tenant] += 1
    return ranks


def busy_tenants(max_running: int) -> Any:
    """The tenants with ``max_running`` units of work running (a fanned-out job counts its
    running chunks, not itself), as a query for ``tenant.not_in(...)``."""
    units = union_all(
        select(jobs.c.tenant.label("tenant")).where(
            jobs.c.status == RUNNING, jobs.c.chunks_total.is_(None)
        ),
        select(chunks.c.tenant.label("tenant")).where(chunks.c.status == RUNNING),
    ).subquery()
    return (
        select(units.c.tenant)
        .group_by(units.c.tenant)
        .having(func.count(literal(1)) >= max_running)
    )
