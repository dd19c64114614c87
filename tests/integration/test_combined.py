"""PostgreSQL's single-statement writes (store/combined.py) store exactly what SQLite's
transactions store: one job's life, run the same way on both, leaves the same rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from pdfq.domain import ErrorCode, JobError, Options
from pdfq.store import Database
from pdfq.store import jobs as repo
from pdfq.store import webhooks as webhook_repo
from pdfq.store.jobs import NewJob
from pdfq.store.migrate import upgrade
from pdfq.store.tables import chunks, events, pages
from tests.helpers import new_job, page_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def nth(n: int) -> str:
    """The id of the scenario's n-th job."""
    return f"00000000-0000-0000-0000-00000000000{n}"


def stored(db: Database, job_id: str) -> repo.JobRecord:
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    return record


def life(db: Database) -> dict[str, Any]:
    """Jobs created, claimed, progressed, finished, lost, retried; what the store then holds."""
    ids = [nth(n) for n in range(5)]
    for n, job_id in enumerate(ids):
        new = NewJob(
            id=job_id,
            tenant="acme" if n % 2 else "zeta",
            filename=f"{n}.pdf",
            size_bytes=10 + n,
            sha256=f"{n}" * 64,
            options=Options(priority=[2, 1, 1, 0, 0][n]),
            webhook_url="https://hooks.example/x" if n == 2 else None,
        )
        assert repo.create_job(db, new=new, now=T0 + timedelta(seconds=n))[1]
    at = T0 + timedelta(minutes=1)
    assert repo.claim(db, job_id=ids[4], owner="w2", lease_seconds=60, now=at) is not None
    claims = [repo.claim_next(db, owner="w1", lease_seconds=60, now=at) for _ in range(3)]
    order = [c.job_id for c in claims if c is not None]
    assert sorted(order) == ids[:3]  # by priority; job 3 (priority 0) is left queued

    assert repo.record_progress(
        db,
        job_id=ids[0],
        attempt=1,
        pages_total=3,
        page_records=[
            page_record(1, 1),
            page_record(2, 1, ocr_provider="tesseract", ocr_confidence=0.9),
        ],
        events=[("scanned", {"text_pages": 2, "ocr_pages": []})],
        findings={"javascript": False},
        now=at,
    )
    assert repo.finish(
        db,
        job_id=ids[0],
        attempt=1,
        result_index={"json": (0, 10), "markdown": (10, 5)},
        page_records=[page_record(3, 1)],
        events=[("extracted", {"pages": 3})],
        data={"chars": 60},
        now=at,
    )
    assert not repo.finish(db, job_id=ids[0], attempt=1, now=at)  # late: changes nothing
    assert not repo.record_progress(
        db, job_id=ids[0], attempt=1, page_records=[page_record(4, 1)], now=at
    )
    error = JobError(code=ErrorCode.MALFORMED_PDF, message="broken xref")
    assert repo.finish(db, job_id=ids[1], attempt=1, error=error, now=at)
    # Job 2 has a webhook: its end queues a delivery in the same transaction.
    assert repo.finish(db, job_id=ids[2], attempt=1, page_records=[page_record(1, 1)], now=at)
    # Job 4 indexes a page, is handed back, and its second claim forgets the first attempt's.
    assert repo.record_progress(
        db, job_id=ids[4], attempt=1, page_records=[page_record(1, 1)], now=at
    )
    assert repo.requeue(db, job_id=ids[4], attempt=1, reason="worker lost", max_attempts=3, now=at)
    again = repo.claim(db, job_id=ids[4], owner="w3", lease_seconds=60, now=at)
    assert again is not None
    assert again.attempt == 2

    with db.read() as conn:
        page_rows = conn.execute(select(pages).order_by(pages.c.job_id, pages.c.number)).all()
        # Every column but the id, in the order of the ids (each job's history in order).
        columns = [c for c in events.c if c.key != "id"]
        event_rows = conn.execute(select(*columns).order_by(events.c.id)).all()
        chunk_rows = conn.execute(select(chunks)).all()
    return {
        "claim order": order,
        "jobs": [dataclasses.asdict(stored(db, job_id)) for job_id in ids],
        "events": [tuple(r) for r in event_rows],
        "pages": [tuple(r) for r in page_rows],
        "chunks": [tuple(r) for r in chunk_rows],
        "webhooks": {
            job_id: [(d.event, d.url) for d in webhook_repo.list_deliveries(db, job_id=job_id)]
            for job_id in ids
        },
    }


def test_postgresql_stores_what_sqlite_stores(pg: Database, tmp_path: Path) -> None:
    lite = Database(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(lite)
    try:
        on_sqlite = life(lite)
    finally:
        lite.dispose()
    on_postgresql = life(pg)
    assert on_postgresql == on_sqlite
    assert on_postgresql["pages"]  # the scenario wrote pages, events and a webhook delivery
    assert any(on_postgresql["webhooks"].values())
    failed = {"attempt": 1, "code": "malformed_pdf", "message": "broken xref"}
    assert (nth(1), "acme", "failed", T0 + timedelta(minutes=1), failed) in (
        on_postgresql["events"]
    )
    pages_event = next(e for e in on_postgresql["events"] if e[0] == nth(0) and e[2] == "pages")
    assert pages_event[4]["pages_done"] == 2
    assert pages_event[4]["pages_total"] == 3


@pytest.mark.parametrize("step", ["create", "claim", "progress", "finish", "webhook"])
def test_each_write_is_one_statement_on_postgresql(pg: Database, step: str) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    hook = "https://hooks.example/x" if step == "webhook" else None
    new = new_job(webhook_url=hook)
    if step != "create":
        repo.create_job(pg, new=new)
    if step not in ("create", "claim"):
        assert repo.claim_next(pg, owner="w", lease_seconds=60) is not None
    event.listen(pg.engine, "before_cursor_execute", count)
    if step == "create":
        repo.create_job(pg, new=new)
    elif step == "claim":
        assert repo.claim_next(pg, owner="w", lease_seconds=60) is not None
    elif step == "progress":
        assert repo.record_progress(pg, job_id=new.id, attempt=1, page_records=[page_record(1, 1)])
    else:
        assert repo.finish(
            pg,
            job_id=new.id,
            attempt=1,
            page_records=[page_record(1, 1)],
            has_webhook=hook is not None,
        )
    event.remove(pg.engine, "before_cursor_execute", count)
    if step == "webhook":
        # Its delivery is rendered from the whole row in Python: the transaction, as before.
        assert statements[0] == "UPDATE"
        assert "WITH" not in statements
        assert len(webhook_repo.list_deliveries(pg, job_id=new.id)) == 1
    else:
        assert statements == ["WITH"]
