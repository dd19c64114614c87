"""The job repository on SQLite and on a real PostgreSQL: every transition is compare-and-set."""

from __future__ import annotations

import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from pdfq.domain import ErrorCode, JobError, JobStatus, Options, new_id
from pdfq.store import Database, upgrade
from pdfq.store import chunks as chunk_repo
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store.jobs import NewJob, PageRecord
from pdfq.store.migrate import alembic_config
from pdfq.store.tables import metadata
from pdfq.worker.sweeper import sweep
from tests.helpers import page_record


def make_job(db: Database, **kwargs) -> str:
    job_id = kwargs.pop("id", None) or new_id()
    options = kwargs.pop("options", Options())
    new = NewJob(
        id=job_id, filename="a.pdf", size_bytes=10, sha256="0" * 64, options=options, **kwargs
    )
    record, created = repo.create_job(db, new=new)
    assert created
    return record.id


def test_migrations_match_the_table_definitions(db: Database) -> None:
    with db.engine.connect() as conn, warnings.catch_warnings():
        # Alembic cannot reflect the expression index (priority DESC) on every backend.
        warnings.simplefilter("ignore", UserWarning)
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    diff = [
        d
        for d in diff
        if not (d[0] in ("add_index", "remove_index") and d[1].name == "ix_jobs_claim")
    ]
    assert diff == []


def test_create_get_and_tenant_isolation(db: Database) -> None:
    job_id = make_job(db, tenant="acme")
    record = repo.get_job(db, job_id=job_id, tenant="acme")
    assert record is not None
    assert record.status == JobStatus.QUEUED
    assert record.created_at.tzinfo is UTC
    assert repo.get_job(db, job_id=job_id, tenant="other") is None
    events = event_repo.list_events(db, job_id=job_id)
    assert [e.type for e in events] == ["received", "stored"]
    assert events[0].data["filename"] == "a.pdf"


def test_idempotency_key_returns_the_first_job(db: Database) -> None:
    first = make_job(db, idempotency_key="k1")
    again = NewJob(
        id=new_id(),
        filename="b.pdf",
        size_bytes=1,
        sha256="1" * 64,
        options=Options(),
        idempotency_key="k1",
    )
    record, created = repo.create_job(db, new=again)
    assert (record.id, created) == (first, False)
    # Keys are per tenant.
    other = NewJob(
        id=new_id(),
        filename="b.pdf",
        size_bytes=1,
        sha256="1" * 64,
        options=Options(),
        idempotency_key="k1",
        tenant="t2",
    )
    assert repo.create_job(db, new=other)[1] is True


def test_list_is_newest_first_with_cursor_and_filters(db: Database) -> None:
    ids = [make_job(db) for _ in range(7)]
    page1, cursor = repo.list_jobs(db, tenant="default", limit=3)
    assert [r.id for r in page1] == ids[::-1][:3]
    page2, cursor2 = repo.list_jobs(db, tenant="default", limit=3, cursor=cursor)
    page3, cursor3 = repo.list_jobs(db, tenant="default", limit=3, cursor=cursor2)
    assert [r.id for r in page2 + page3] == ids[::-1][3:]
    assert cursor3 is None
    claim = repo.claim_next(db, owner="w", lease_seconds=30)
    assert claim is not None
    running, _ = repo.list_jobs(db, tenant="default", status=JobStatus.RUNNING)
    assert [r.id for r in running] == [claim.job_id]


def test_claim_order_is_priority_then_age(db: Database) -> None:
    low = make_job(db)
    high = make_job(db, options=Options(priority=5))
    older_normal = make_job(db, options=Options(priority=1))
    newer_normal = make_job(db, options=Options(priority=1))
    order = [repo.claim_next(db, owner="w", lease_seconds=30) for _ in range(5)]
    assert [c.job_id if c else None for c in order] == [high, older_normal, newer_normal, low, None]
    assert all(c.attempt == 1 for c in order if c)


def test_concurrent_claims_take_each_job_exactly_once(db: Database) -> None:
    ids = {make_job(db) for _ in range(40)}
    taken: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (claim := repo.claim_next(db, owner="w", lease_seconds=30)) is not None:
            with lock:
                taken.append(claim.job_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)


def test_claim_by_id_happens_once(db: Database) -> None:
    job_id = make_job(db)
    assert repo.claim(db, job_id=job_id, owner="a", lease_seconds=30) is not None
    assert repo.claim(db, job_id=job_id, owner="b", lease_seconds=30) is None  # a duplicate message


def test_finish_publishes_one_attempt_and_rejects_late_ones(db: Database) -> None:
    job_id = make_job(db)
    claim = repo.claim_next(db, owner="w", lease_seconds=30)
    assert claim is not None
    page = PageRecord(
        number=1,
        attempt=claim.attempt,
        method="text",
        chars=5,
        tables=0,
        batch="000001.jsonl",
        offset=0,
        length=10,
    )
    assert repo.record_progress(db, job_id=job_id, attempt=1, pages_total=2, page_records=[page])
    assert repo.finish(
        db,
        job_id=job_id,
        attempt=1,
        page_records=[
            PageRecord(
                number=2,
                attempt=1,
                method="text",
                chars=3,
                tables=1,
                batch="000002.jsonl",
                offset=0,
                length=7,
            )
        ],
    )
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    assert (record.status, record.result_attempt) == (JobStatus.SUCCEEDED, 1)
    assert (record.pages_done, record.pages_total) == (2, 2)
    assert record.lease_owner is None
    # A second finish (a duplicated message, a zombie worker) changes nothing.
    assert not repo.finish(db, job_id=job_id, attempt=1)
    assert not repo.record_progress(db, job_id=job_id, attempt=1, page_records=[page])
    kinds = [e.type for e in event_repo.list_events(db, job_id=job_id)]
    assert kinds.count("succeeded") == 1
    page_record = repo.get_page(db, job_id=job_id, number=2)
    assert page_record is not None
    assert (page_record.tables, page_record.batch, page_record.length) == (1, "000002.jsonl", 7)


def test_requeue_counts_attempts_then_fails_worker_lost(db: Database) -> None:
    job_id = make_job(db)
    for attempt in (1, 2, 3):
        claim = repo.claim_next(db, owner="w", lease_seconds=30)
        assert claim is not None
        assert claim.attempt == attempt
        status = repo.requeue(db, job_id=job_id, attempt=attempt, reason="died", max_attempts=3)
        assert status == (JobStatus.FAILED if attempt == 3 else JobStatus.QUEUED)
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    assert record.error_code == "worker_lost"
    assert "gave up after 3 attempts" in (record.error_message or "")
    # The stale attempt cannot re-queue a finished job.
    assert repo.requeue(db, job_id=job_id, attempt=3, reason="x", max_attempts=3) is None


def test_handing_back_does_not_spend_an_attempt(db: Database) -> None:
    job_id = make_job(db)
    repo.claim_next(db, owner="w", lease_seconds=30)
    assert (
        repo.requeue(
            db, job_id=job_id, attempt=1, reason="shutdown", max_attempts=1, count_attempt=False
        )
        == JobStatus.QUEUED
    )
    claim = repo.claim_next(db, owner="w", lease_seconds=30)
    assert claim is not None
    assert claim.attempt == 1


def test_a_job_handed_back_starts_over_without_the_pages_it_had_indexed(db: Database) -> None:
    # The attempt number is reused, so the claim alone cannot tell that pages were indexed.
    job_id = make_job(db)
    assert repo.claim_next(db, owner="w", lease_seconds=30) is not None
    assert repo.record_progress(
        db, job_id=job_id, attempt=1, page_records=[page_record(1), page_record(2)]
    )
    assert (
        repo.requeue(
            db, job_id=job_id, attempt=1, reason="shutdown", max_attempts=3, count_attempt=False
        )
        == JobStatus.QUEUED
    )
    assert repo.list_pages(db, job_id=job_id) == []
    claim = repo.claim_next(db, owner="w", lease_seconds=30)
    assert claim is not None
    assert claim.attempt == 1
    assert repo.record_progress(db, job_id=job_id, attempt=1, page_records=[page_record(1)])
    assert repo.finish(db, job_id=job_id, attempt=1, page_records=[page_record(2)])
    assert [p.number for p in repo.list_pages(db, job_id=job_id)] == [1, 2]


def test_sweeper_requeues_expired_leases_and_enqueues(db: Database) -> None:
    live, dead = make_job(db), make_job(db)
    past = datetime.now(UTC) - timedelta(minutes=5)
    assert repo.claim(db, job_id=dead, owner="gone:1", lease_seconds=1, now=past)
    assert repo.claim(db, job_id=live, owner="alive:1", lease_seconds=300)
    enqueued: list[tuple[str, int | None, float]] = []
    # Work a supervisor handles itself is left to it.
    assert sweep(db, max_attempts=3, skip=frozenset({(dead, None)})) == 0
    assert sweep(db, max_attempts=3, enqueue=lambda *sent: enqueued.append(sent)) == 1
    assert enqueued == [(dead, None, 0.0)]
    assert repo.get_job(db, job_id=dead).status == JobStatus.QUEUED  # type: ignore[union-attr]
    assert repo.get_job(db, job_id=live).status == JobStatus.RUNNING  # type: ignore[union-attr]
    # Renewing keeps a lease alive; a renewal for a lost attempt reports it.
    assert repo.renew_lease(db, job_id=live, attempt=1, owner="alive:1", lease_seconds=300)
    assert not repo.renew_lease(db, job_id=dead, attempt=1, owner="gone:1", lease_seconds=300)


def test_only_the_lease_holder_renews_it(db: Database) -> None:
    """A renewal in flight when its attempt handed the work on must not take it back."""
    job_id = make_job(db)
    assert repo.claim(db, job_id=job_id, owner="a:1", lease_seconds=60)
    assert not repo.renew_lease(db, job_id=job_id, attempt=1, owner="b:2", lease_seconds=60)
    assert repo.renew_lease(db, job_id=job_id, attempt=1, owner="a:1", lease_seconds=60)
    # Fanned out, the job holds no lease of its own: an old renewal must not give it one,
    # which nobody would renew and the sweeper would take for a dead worker.
    fanned = chunk_repo.fan_out(
        db, job_id=job_id, attempt=1, ranges=[(1, 1), (2, 2)], pages_total=2, findings=None
    )
    assert fanned
    assert not repo.renew_lease(db, job_id=job_id, attempt=1, owner="a:1", lease_seconds=60)
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    assert (record.lease_owner, record.lease_expires_at) == (None, None)
    chunk = chunk_repo.claim_chunk(db, job_id=job_id, number=0, owner="c:3", lease_seconds=60)
    assert chunk is not None
    assert not chunk_repo.renew_chunk_lease(db, claim=chunk, owner="d:4", lease_seconds=60)
    assert chunk_repo.renew_chunk_lease(db, claim=chunk, owner="c:3", lease_seconds=60)


def test_cancel_retry_and_delete(db: Database) -> None:
    queued, running, done = make_job(db), make_job(db), make_job(db)
    repo.claim(db, job_id=running, owner="w", lease_seconds=30)
    repo.claim(db, job_id=done, owner="w", lease_seconds=30)
    repo.finish(db, job_id=done, attempt=1, error=JobError(code=ErrorCode.ENCRYPTED, message="pw"))

    record, before = repo.cancel(db, job_id=queued)
    assert before == JobStatus.QUEUED
    assert record
    assert record.status == JobStatus.CANCELED
    record, before = repo.cancel(db, job_id=running)
    assert before == JobStatus.RUNNING
    assert record
    assert record.error_code == "canceled"
    assert not repo.finish(db, job_id=running, attempt=1)  # the worker's result is discarded
    record, before = repo.cancel(db, job_id=done)
    assert before == JobStatus.FAILED
    assert record
    assert record.status == JobStatus.FAILED
    assert repo.cancel(db, job_id="nope") == (None, None)

    assert repo.retry(db, job_id=queued) is not None  # canceled → queued
    retried = repo.retry(db, job_id=done)
    assert retried is not None
    assert (retried.status, retried.attempts, retried.error_code) == (
        JobStatus.QUEUED,
        1,  # the count goes on: attempt numbers are not used twice
        None,
    )
    assert retried.attempts_before_retry == 1
    assert repo.retry(db, job_id=done) is None  # already queued

    assert repo.delete_job(db, job_id=done)
    assert repo.get_job(db, job_id=done) is None
    assert [e.type for e in event_repo.list_events(db, job_id=done)][-1] == "deleted"
    assert not repo.delete_job(db, job_id=done)


def test_a_job_retried_while_its_run_stops_runs_under_a_new_attempt_number(
    db: Database,
) -> None:
    """Canceled, then retried at once: the run still stopping must not share its attempt
    number (its files' prefix) with the new run, and the new run gets a whole budget."""
    job_id = make_job(db)
    old = repo.claim(db, job_id=job_id, owner="w:1", lease_seconds=30)
    assert old is not None
    assert old.attempt == 1
    repo.cancel(db, job_id=job_id)
    assert repo.retry(db, job_id=job_id) is not None
    new = repo.claim(db, job_id=job_id, owner="w:2", lease_seconds=30)
    assert new is not None
    assert new.attempt == 2
    # The old run, still stopping, can neither finish nor keep the job.
    assert not repo.finish(db, job_id=job_id, attempt=old.attempt, result_index={})
    assert not repo.renew_lease(db, job_id=job_id, attempt=1, owner="w:1", lease_seconds=30)
    # The budget counts from the retry: one attempt spent of two, then the second fails it.
    status = repo.requeue(db, job_id=job_id, attempt=2, reason="lost", max_attempts=2)
    assert status == JobStatus.QUEUED
    third = repo.claim(db, job_id=job_id, owner="w:2", lease_seconds=30)
    assert third is not None
    assert third.attempt == 3
    status = repo.requeue(db, job_id=job_id, attempt=3, reason="lost", max_attempts=2)
    assert status == JobStatus.FAILED
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    assert record.error_message == "lost; gave up after 2 attempts"


def test_count_queued(db: Database) -> None:
    for _ in range(3):
        make_job(db)
    repo.claim_next(db, owner="w", lease_seconds=30)
    assert repo.count_queued(db) == 2


def test_migrations_take_urls_with_percent_signs(tmp_path: Path, pg_url: str) -> None:
    """A percent-encoded password, and a data folder with "%" in its name, are ordinary
    database URLs; Alembic's configuration must not read them as interpolations."""
    folder = tmp_path / "100% disk"
    sqlite = Database(f"sqlite:///{folder / 'store.db'}")
    # PostgreSQL here trusts local connections, so any password is accepted: "p@ss" encoded.
    postgres = Database(make_url(pg_url).set(password="p@ss%").render_as_string(False))
    assert "%40" in postgres.url.render_as_string(hide_password=False)
    for database in (sqlite, postgres):
        try:
            upgrade(database)
            upgrade(database)  # already at the newest revision: a no-op
            assert make_job(database)
            assert alembic_config(database).get_main_option("sqlalchemy.url") == (
                database.url.render_as_string(hide_password=False)
            )
        finally:
            database.dispose()
