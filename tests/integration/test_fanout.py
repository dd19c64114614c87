"""Fan-out: a large document split into page-range chunks, run separately, merged in order."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from pdfq import results
from pdfq.domain import JobStatus
from pdfq.errors import StorageError
from pdfq.extract.document import extract_document
from pdfq.store import chunks as chunk_repo
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store.tables import jobs
from pdfq.worker import pipeline
from pdfq.worker.context import WorkerContext
from pdfq.worker.pipeline import Outcome, process_job, run_job
from pdfq.worker.sweeper import resend_lost, sweep
from tests import samples
from tests.helpers import add_job


@pytest.fixture
def ctx(make_ctx: Callable[..., WorkerContext]) -> WorkerContext:
    return make_ctx(fanout_pages=4, fanout_chunk_pages=3, max_attempts=2)


def run_chunks(ctx: WorkerContext, limit: int = 100) -> list[Outcome]:
    outcomes = []
    while limit and (
        claim := chunk_repo.claim_next_chunk(ctx.db, owner=ctx.owner, lease_seconds=30)
    ):
        outcomes.append(process_job(ctx, claim))
        limit -= 1
    return outcomes


def test_a_large_document_is_split_run_in_chunks_and_merged(ctx: WorkerContext, tmp_path) -> None:
    data = samples.report_pdf(pages=10)
    enqueued: list[tuple[str, int | None]] = []
    ctx.enqueue = lambda job_id, chunk, delay: enqueued.append((job_id, chunk))
    job_id = add_job(ctx, data)

    assert run_job(ctx, job_id).status == JobStatus.RUNNING
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.chunks_total, record.pages_total, record.lease_expires_at) == (4, 10, None)
    assert enqueued == [(job_id, n) for n in range(4)]

    outcomes = run_chunks(ctx)
    assert [o.status for o in outcomes] == [JobStatus.RUNNING] * 3 + [JobStatus.SUCCEEDED]
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.status, record.pages_done, record.chunks_done) == (JobStatus.SUCCEEDED, 10, 4)

    assert record.result_index is not None
    merged = json.loads(
        results.read_part(
            ctx.blobs, job_id=job_id, attempt=1, index=record.result_index, part="json"
        )
        or b""
    )
    (tmp_path / "same.pdf").write_bytes(data)
    direct = extract_document(tmp_path / "same.pdf")
    assert [p["number"] for p in merged["pages"]] == list(range(1, 11))
    assert merged["text"] == direct.text
    assert merged["markdown"] == direct.markdown
    assert merged["metadata"]["title"] == "Quarterly Report"
    kinds = [e.type for e in event_repo.list_events(ctx.db, job_id=job_id)]
    assert kinds.count("fanned_out") == 1
    assert kinds.count("merged") == 1
    assert kinds.count("succeeded") == 1


def test_a_failing_chunk_is_retried_alone(ctx: WorkerContext, monkeypatch) -> None:
    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    run_job(ctx, job_id)
    put = ctx.blobs.put
    failures = {"left": 1}

    def flaky_put(key: str, data: bytes) -> None:
        if "/pages/000007" in key and failures["left"]:
            failures["left"] -= 1
            raise StorageError("S3 hiccup")
        put(key, data)

    monkeypatch.setattr(ctx.blobs, "put", flaky_put)
    outcomes = run_chunks(ctx)
    assert outcomes[-1].status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.attempts, record.pages_done) == (1, 10)  # the job itself was not retried
    retried = [
        e.data for e in event_repo.list_events(ctx.db, job_id=job_id) if e.type == "chunk_retried"
    ]
    assert retried == [{"chunk": 2, "attempt": 1, "reason": "S3 hiccup"}]
    assert len(outcomes) == 5  # 4 chunks, one of them twice


def test_a_chunk_that_keeps_failing_fails_the_job(ctx: WorkerContext, monkeypatch) -> None:
    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    run_job(ctx, job_id)
    put = ctx.blobs.put

    def broken_put(key: str, data: bytes) -> None:
        if "/pages/000004" in key:
            raise StorageError("disk gone")
        put(key, data)

    monkeypatch.setattr(ctx.blobs, "put", broken_put)
    run_chunks(ctx)
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.status == JobStatus.FAILED
    assert record.error_code == "storage_error"
    assert "chunk 1: disk gone; gave up after 2 attempts" in (record.error_message or "")


def test_canceling_a_fanned_out_job_stops_its_chunks(ctx: WorkerContext) -> None:
    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    run_job(ctx, job_id)
    first = run_chunks(ctx, limit=1)
    assert first[0].status == JobStatus.RUNNING
    repo.cancel(ctx.db, job_id=job_id)
    assert run_chunks(ctx) == []  # the remaining chunks are not claimable any more
    assert repo.get_job(ctx.db, job_id=job_id).status == JobStatus.CANCELED  # type: ignore[union-attr]


def test_a_lost_chunk_is_swept_back(ctx: WorkerContext) -> None:
    from datetime import UTC, datetime, timedelta

    from pdfq.worker.sweeper import sweep

    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    run_job(ctx, job_id)
    past = datetime.now(UTC) - timedelta(minutes=5)
    lost = chunk_repo.claim_next_chunk(ctx.db, owner="gone:1", lease_seconds=1, now=past)
    assert lost is not None
    resent: list[Any] = []
    assert sweep(ctx.db, max_attempts=2, enqueue=lambda *a: resent.append(a)) == 1
    assert resent == [(job_id, lost.chunk, 0.0)]
    assert run_chunks(ctx)[-1].status == JobStatus.SUCCEEDED


class _Killed(BaseException):
    """The process dies here: nothing after it runs, no handler sees it."""


def test_a_merge_whose_worker_dies_is_swept_and_the_job_run_again(
    ctx: WorkerContext, monkeypatch
) -> None:
    """The last chunk is done, so nothing of the chunks is left to sweep: the merge holds the
    job's lease, which runs out when its worker dies, and the job starts over."""
    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    run_job(ctx, job_id)

    def die(*args: Any) -> Outcome:
        raise _Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_merge", die)
        with pytest.raises(_Killed):
            run_chunks(ctx)
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.status, record.chunks_done, record.chunks_total) == (JobStatus.RUNNING, 4, 4)
    assert record.lease_owner == ctx.owner
    assert record.lease_expires_at is not None

    with ctx.db.write() as conn:  # the dead merger renews nothing: its lease runs out
        conn.execute(update(jobs).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert sweep(ctx.db, max_attempts=ctx.settings.max_attempts) == 1
    assert run_job(ctx, job_id).status == JobStatus.RUNNING  # fanned out again
    assert run_chunks(ctx)[-1].status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.status, record.attempts, record.pages_done) == (JobStatus.SUCCEEDED, 2, 10)
    kinds = [e.type for e in event_repo.list_events(ctx.db, job_id=job_id)]
    assert (kinds.count("merged"), kinds.count("succeeded")) == (1, 1)


def test_a_broker_hiccup_while_fanning_out_leaves_the_chunks_to_the_sweeper(
    ctx: WorkerContext, monkeypatch
) -> None:
    """The chunks are stored before their messages are sent: a broker that cannot be reached
    then must not fail the job; the sweeper sends what the broker does not hold."""
    from kombu.exceptions import OperationalError

    from pdfq.queue import celery as celery_queue

    def broker_down(*args: Any) -> None:
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(celery_queue, "send", broker_down)
    ctx.enqueue = lambda job_id, chunk, delay: celery_queue.send_or_leave_to_sweeper(
        None,  # never reached: send is down
        job_id,
        chunk,
        delay,
    )
    job_id = add_job(ctx, samples.text_pdf(pages=10, words_per_page=20))
    assert run_job(ctx, job_id).status == JobStatus.RUNNING
    sent: list[tuple[str, int | None]] = []
    resent = resend_lost(
        ctx.db,
        backlog=0,
        enqueue=lambda job_id, chunk, delay: sent.append((job_id, chunk)),
        older_than_seconds=0,
    )
    assert resent == 4
    assert sorted(n for _, n in sent if n is not None) == [0, 1, 2, 3]
    assert run_chunks(ctx)[-1].status == JobStatus.SUCCEEDED
