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


def _queued_ranks(aggregate: Any, *, own: bool) -> Any:
    """``aggregate`` (min or max) of the ranks queued in jobs and chunks (the tenant's own, or
    everyone's), as a scalar subquery: each table's part runs on its index."""
    parts = []
    for table in (jobs, chunks):
        part = select(aggregate(table.c.fair_rank).label("rank")).where(table.c.status == QUEUED)
        if own:
            part = part.where(table.c.tenant == bindparam("tenant"))
        parts.append(part)
    both = union_all(*parts).subquery()
    return select(aggregate(both.c.rank)).scalar_subquery()


# The rank of the tenant's next unit (parameter ``tenant``): after its own highest queued rank,
# else the virtual time (the lowest rank queued), else 0. One expression, so a statement that
# inserts a job can rank it itself (store/combined.py). COALESCE stops at its first non-null
# argument on both databases, so the virtual time is read only when the tenant has nothing
# queued (otherwise its highest rank + 1 is the answer: the lowest rank queued is at most
# that). That matters on PostgreSQL, where the lowest queued rank is found by walking index
# entries of jobs that have left the queue until vacuum removes them (measured under load:
# 270-1,460 heap fetches per read, against 2 for the tenant's highest).
NEXT_RANK = func.coalesce(
    _queued_ranks(func.max, own=True) + 1, _queued_ranks(func.min, own=False), 0
)
_NEXT_RANK = select(NEXT_RANK)  # built once: building costs more than running it on SQLite


def first_rank(conn: Connection, tenant: str) -> int:
    """The rank of ``tenant``'s next unit of work: after its own queued units, never before
    the virtual time (the lowest rank queued, 0 when nothing is)."""
    return int(conn.execute(_NEXT_RANK, {"tenant": tenant}).scalar_one())


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
