"""The webhook outbox, batches and deduplicated jobs in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from pdfq.domain import ErrorCode, JobError, JobStatus, Options, RejectedFile, new_id
from pdfq.store import Database, dedupe
from pdfq.store import batches as batch_repo
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store import webhooks as outbox
from pdfq.store.jobs import NewJob, PageRecord
from tests.integration.test_store import make_job

HOOK = "http://receiver.example/hook"


def run_to_success(db: Database, job_id: str, pages: int = 2) -> None:
    claim = repo.claim(db, job_id=job_id, owner="w", lease_seconds=30)
    assert claim is not None
    records = [
        PageRecord(
            number=n,
            attempt=1,
            method="text",
            chars=5,
            tables=0,
            batch="result",
            offset=n * 10,
            length=10,
        )
        for n in range(1, pages + 1)
    ]
    assert repo.finish(
        db,
        job_id=job_id,
        attempt=1,
        result_index={"json": (100, 50)},
        pages_total=pages,
        page_records=records,
    )


def test_a_job_ending_queues_exactly_one_delivery_in_its_transaction(db: Database) -> None:
    job_id = make_job(db, webhook_url=HOOK)
    silent = make_job(db)
    assert outbox.list_deliveries(db, job_id=job_id) == []
    run_to_success(db, job_id)
    run_to_success(db, silent)
    (delivery,) = outbox.list_deliveries(db, job_id=job_id)
    assert delivery.url == HOOK
    assert delivery.event == "job.succeeded"
    assert delivery.status == outbox.PENDING
    assert '"status":"succeeded"' in delivery.payload
    assert outbox.list_deliveries(db, job_id=silent) == []
    # a late, repeated finish changes nothing and queues nothing
    assert not repo.finish(db, job_id=job_id, attempt=1, result_index={})
    assert len(outbox.list_deliveries(db, job_id=job_id)) == 1


def test_failures_cancels_and_lost_workers_queue_their_delivery(db: Database) -> None:
    failed = make_job(db, webhook_url=HOOK)
    repo.claim(db, job_id=failed, owner="w", lease_seconds=30)
    repo.finish(
        db, job_id=failed, attempt=1, error=JobError(code=ErrorCode.MALFORMED_PDF, message="x")
    )
    canceled = make_job(db, webhook_url=HOOK)
    repo.cancel(db, job_id=canceled)
    lost = make_job(db, webhook_url=HOOK)
    repo.claim(db, job_id=lost, owner="w", lease_seconds=30)
    assert (
        repo.requeue(db, job_id=lost, attempt=1, reason="gone", max_attempts=1) == JobStatus.FAILED
    )
    events = {
        job_id: [d.event for d in outbox.list_deliveries(db, job_id=job_id)]
        for job_id in (failed, canceled, lost)
    }
    assert events == {failed: ["job.failed"], canceled: ["job.canceled"], lost: ["job.failed"]}


def test_a_due_delivery_is_claimed_once_and_held_for_its_attempt(db: Database) -> None:
    job_id = make_job(db, webhook_url=HOOK)
    run_to_success(db, job_id)
    now = datetime.now(UTC)
    taken: list[list[outbox.Delivery]] = []
    lock = threading.Lock()

    def claim() -> None:
        got = outbox.claim_due(db, now=now, hold_seconds=60)
        with lock:
            taken.append(got)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [d for got in taken for d in got]
    assert len(claimed) == 1
    (delivery,) = claimed
    assert delivery.attempts == 1
    assert outbox.claim_due(db, now=now + timedelta(seconds=30), hold_seconds=60) == []
    assert outbox.next_due(db) == now + timedelta(seconds=60)

    later = now + timedelta(seconds=1)
    retry_at = later + timedelta(seconds=5)
    assert outbox.record_failed(
        db, delivery=delivery, error="HTTP 500", retry_at=retry_at, now=later
    )
    assert not outbox.record_failed(db, delivery=delivery, error="again", retry_at=None, now=later)
    (second,) = outbox.claim_due(db, now=retry_at, hold_seconds=60)
    assert second.attempts == 2
    assert not outbox.record_delivered(
        db, delivery=delivery, status_code=200, seconds=0.1, now=retry_at
    )
    assert outbox.record_delivered(db, delivery=second, status_code=200, seconds=0.1, now=retry_at)
    assert outbox.list_deliveries(db, job_id=job_id)[0].status == outbox.DELIVERED
    assert outbox.next_due(db) is None
    kinds = [e.type for e in event_repo.list_events(db, job_id=job_id)]
    assert kinds[-2:] == ["webhook_failed", "webhook_delivered"]


def test_a_batch_is_created_with_its_jobs_in_one_go(db: Database) -> None:
    batch_id = new_id()
    news = [
        NewJob(
            id=new_id(),
            filename=f"{n}.pdf",
            size_bytes=1,
            sha256="0" * 64,
            options=Options(),
            tenant="acme",
            batch_id=batch_id,
        )
        for n in range(3)
    ]
    bad = RejectedFile(
        filename="x.png", status=415, error=JobError(code=ErrorCode.NOT_A_PDF, message="no")
    )
    _, created = batch_repo.create_batch(
        db, batch_id=batch_id, tenant="acme", new_jobs=news, rejected=[bad]
    )
    assert [r.id for r in created] == [n.id for n in news]
    assert batch_repo.get_batch(db, batch_id=batch_id, tenant="other") is None
    stored = batch_repo.get_batch(db, batch_id=batch_id, tenant="acme")
    assert stored is not None
    assert stored.rejected == [bad]
    assert [r.filename for r in batch_repo.batch_jobs(db, batch_id=batch_id)] == [
        "0.pdf",
        "1.pdf",
        "2.pdf",
    ]
    assert batch_repo.status_counts(db, batch_id=batch_id)["queued"] == 3


def test_reuse_is_per_tenant_file_and_result_shaping_options(db: Database) -> None:
    sha = "a" * 64
    new = NewJob(
        id=new_id(),
        filename="a.pdf",
        size_bytes=1,
        sha256=sha,
        options=Options(priority=3),
        tenant="acme",
    )
    repo.create_job(db, new=new)
    assert (
        dedupe.find_reusable(db, tenant="acme", sha256=sha, options=Options()) is None
    )  # not done
    run_to_success(db, new.id, pages=3)
    found = dedupe.find_reusable(
        db, tenant="acme", sha256=sha, options=Options(priority=-1, dedupe=True)
    )
    assert found is not None
    assert found.id == new.id  # priority does not change a result
    assert dedupe.find_reusable(db, tenant="other", sha256=sha, options=Options()) is None
    assert dedupe.find_reusable(db, tenant="acme", sha256="b" * 64, options=Options()) is None
    for different in (Options(pages="1"), Options(ocr="never"), Options(languages="deu")):
        assert dedupe.find_reusable(db, tenant="acme", sha256=sha, options=different) is None

    again = NewJob(
        id=new_id(),
        filename="b.pdf",
        size_bytes=1,
        sha256=sha,
        options=Options(),
        tenant="acme",
        webhook_url=HOOK,
    )
    record, created = dedupe.create_reused(db, new=again, source=found)
    assert created
    assert record.status == JobStatus.SUCCEEDED
    assert record.dedupe_of == new.id
    assert record.result_index == found.result_index
    assert [p.number for p in repo.list_pages(db, job_id=again.id)] == [1, 2, 3]
    assert {p.attempt for p in repo.list_pages(db, job_id=again.id)} == {dedupe.REUSED_ATTEMPT}
    assert [d.event for d in outbox.list_deliveries(db, job_id=again.id)] == ["job.succeeded"]
