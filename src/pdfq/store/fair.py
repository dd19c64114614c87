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

from sqlalchemy import Connection, bindparam, func, literal, select, union_all

from pdfq.store.tables import chunks, jobs

QUEUED = "queued"
RUNNING = "running"


def _lowest_queued(table: Any) -> Any:
    return select(func.min(table.c.fair_rank)).where(table.c.status == QUEUED).scalar_subquery()


def _highest_queued(table: Any) -> Any:
    return (
        select(func.max(table.c.fair_rank))
        .where(table.c.tenant == bindparam("tenant"), table.c.status == QUEUED)
        .scalar_subquery()
    )


# Built once (building a statement costs more than running it on SQLite): four index probes.
_RANKS = select(
    _lowest_queued(jobs), _lowest_queued(chunks), _highest_queued(jobs), _highest_queued(chunks)
)


def first_rank(conn: Connection, tenant: str) -> int:
    """The rank of ``tenant``'s next unit of work: after its own queued units, never before
    the virtual time (the lowest rank queued, 0 when nothing is)."""
    row = conn.execute(_RANKS, {"tenant": tenant}).one()
    lowest = [value for value in row[:2] if value is not None]
    virtual = min(lowest) if lowest else 0
    highest = [value for value in row[2:] if value is not None]
    return max(virtual, max(highest) + 1) if highest else virtual


def assign(conn: Connection, tenants: Iterable[str]) -> list[int]:
    """Ranks for new units of these tenants, in order (a tenant's units follow each other)."""
    following: dict[str, int] = {}
    ranks = []
    for tenant in tenants:
        if tenant not in following:
            following[tenant] = first_rank(conn, tenant)
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
