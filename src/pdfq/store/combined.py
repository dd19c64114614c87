"""PostgreSQL forms of the store's hottest writes: each one statement instead of a transaction.

On PostgreSQL a job's creation, its claim and its finish were each a transaction of BEGIN,
two or three statements and COMMIT, every one a round trip through SQLAlchemy, psycopg and a
server process, one after another on the job's path (and the database is the one part every
API host and worker of a cluster shares). Here each write and the rows that go with it (the
job's events, its page index, an earlier attempt's leftovers) are one statement of
data-modifying CTEs, run in autocommit: a single statement is atomic by itself, so nothing is
weaker than the transaction it replaces, and the events trigger (migration 0007) still
announces the events when it commits. Rows whose number varies travel as one JSON parameter
expanded by ``json_to_recordset``, so each statement's text is fixed and compiled once.

Two differences. Every part of a statement reads the database as it was when the statement
began, where the statements of a transaction each saw what had committed before them: the
claim's clean-up of an earlier attempt's pages misses pages committed while the claim waited
for the job's row lock. Only pages written to a queued job could be there; a whole job's
progress and finish check that it runs under their attempt, and a chunk's finish does not
check its job's status, but the sweeper does not re-queue a fanned-out job (fanning out
clears its lease). And a write whose reply is lost (the connection dropped) may have
committed, as could a COMMIT before: the worker asks the store before it discards a
finished attempt's files (``pipeline._published``).

SQLite cannot modify data inside a CTE, and its statements are calls inside the process, so
it keeps the transactions (:mod:`pdfq.store.jobs`); the two forms are tested against each
other on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Insert,
    Integer,
    Select,
    String,
    Update,
    bindparam,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import TableValuedAlias

from pdfq.store import fair
from pdfq.store.events import PAGES, EventDraft
from pdfq.store.tables import chunks, events, jobs, pages

_EVENT_COLUMNS = ["job_id", "tenant", "type", "at", "data"]
_NOW = bindparam("now", type_=events.c.at.type)


def _rows(parameter: str, columns: Sequence[ColumnClause[Any]], name: str) -> TableValuedAlias:
    """``json_to_recordset(:parameter) AS name(columns…)``: a JSON array of objects as rows."""
    return (
        func.json_to_recordset(bindparam(parameter, type_=JSON))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name=name, with_types=True)
    )


_EVENT_ROWS = (column("ord", Integer), column("type", String), column("data", JSON))


def event_rows(drafts: Sequence[EventDraft]) -> list[dict[str, Any]]:
    """Events as the ``event_rows`` parameter of these statements, in order."""
    return [{"ord": i, "type": kind, "data": data} for i, (kind, data) in enumerate(drafts)]


def page_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Page index rows as the ``page_rows`` parameter (times as ISO 8601 text in JSON)."""
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows
    ]


def claim(claim_update: Update) -> Select[Any]:
    """A claim (``UPDATE jobs … RETURNING``) with its ``started`` event, and, for a job claimed
    again, the removal of the page index and chunks an earlier attempt left. Returns the
    claimed row, or none."""
    claimed = claim_update.cte("claimed")
    again = select(claimed.c.id).where(claimed.c.attempts > 1)
    started = insert(events).from_select(
        _EVENT_COLUMNS,
        select(
            claimed.c.id,
            claimed.c.tenant,
            literal("started"),
            _NOW,
            func.json_build_object("attempt", claimed.c.attempts),
        ),
    )
    return select(claimed).add_cte(
        started.cte("started"),
        delete(pages).where(pages.c.job_id.in_(again)).cte("old_pages"),
        delete(chunks).where(chunks.c.job_id.in_(again)).cte("old_chunks"),
    )


def apply(compare_and_set: Update) -> Select[Any]:
    """A compare-and-set on a running job (``UPDATE jobs … RETURNING``) with the page rows
    (``page_rows``) and events (``event_rows``) that go with it, written only when it matched.
    A ``pages`` event gets the job's progress after the update added to its data, as
    :func:`pdfq.store.events.insert_events` does. Returns the updated row's id, or nothing:
    only whether it matched is used, and the whole row cost the client about 0.04 ms more per
    call (a finish in a loop: 0.78 against 0.74 ms)."""
    done = compare_and_set.cte("done")
    new_pages = _rows("page_rows", list(pages.c), "new_pages")
    added_pages = insert(pages).from_select(
        [c.key for c in pages.c],
        select(*new_pages.c).where(exists(select(done.c.id))),
    )
    new_events = _rows("event_rows", _EVENT_ROWS, "new_events")
    progress = func.json_build_object(
        "pages",
        new_events.c.data.op("->")("pages"),
        "pages_done",
        done.c.pages_done,
        "pages_total",
        done.c.pages_total,
    )
    added_events = insert(events).from_select(
        _EVENT_COLUMNS,
        select(
            done.c.id,
            done.c.tenant,
            new_events.c.type,
            _NOW,
            case((new_events.c.type == PAGES, progress), else_=new_events.c.data),
        )
        .select_from(done.join(new_events, true()))
        .order_by(new_events.c.ord),
    )
    return select(done.c.id).add_cte(
        added_pages.cte("added_pages"), added_events.cte("added_events")
    )


def create() -> Insert:
    """A queued job (every column of ``jobs`` but its fair rank a parameter of its name) with
    its arrival events (``event_rows``), ranked in the fair order as it is inserted. Returns
    the rank."""
    arrival = _rows("event_rows", _EVENT_ROWS, "arrival")
    arrived = insert(events).from_select(
        _EVENT_COLUMNS,
        select(
            bindparam("id", type_=jobs.c.id.type),
            bindparam("tenant", type_=jobs.c.tenant.type),
            arrival.c.type,
            bindparam("created_at", type_=events.c.at.type),
            arrival.c.data,
        ).order_by(arrival.c.ord),
    )
    columns = {c.key: bindparam(c.key, type_=c.type) for c in jobs.c}
    return (
        insert(jobs)
        .values({**columns, "fair_rank": fair.NEXT_RANK})
        .add_cte(arrived.cte("arrived"))
        .returning(jobs.c.fair_rank)
    )
