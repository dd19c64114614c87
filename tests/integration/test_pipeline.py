"""The worker pipeline against a real store and blobs, in this process (no pool)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pdfq import results
from pdfq.domain import JobStatus, Options, new_id
from pdfq.errors import StorageError, Unavailable
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store.jobs import Claim, NewJob
from pdfq.worker import pipeline
from pdfq.worker.context import WorkerContext
from pdfq.worker.pipeline import process_job, run_job
from tests import samples
from tests.helpers import add_job


def claim(ctx: WorkerContext, job_id: str) -> Claim:
    taken = repo.claim(ctx.db, job_id=job_id, owner=ctx.owner, lease_seconds=30)
    assert taken is not None
    return taken


def test_a_job_runs_to_success_with_results_under_its_attempt(
    ctx: WorkerContext, report_pdf: bytes, monkeypatch
) -> None:
    # A document read within one progress interval is written as one result object (on a
    # loaded machine three pages could take longer than the real interval).
    monkeypatch.setattr(pipeline, "FLUSH_SECONDS", 60.0)
    job_id = add_job(ctx, report_pdf)
    notes: list[tuple[str, dict[str, Any]]] = []
    outcome = run_job(ctx, job_id, notify=lambda kind, data: notes.append((kind, data)))
    assert outcome.status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.result_attempt, record.pages_done, record.pages_total) == (1, 3, 3)

    def part(name: str) -> bytes | None:
        assert record is not None
        assert record.result_index is not None
        return results.read_part(
            ctx.blobs, job_id=job_id, attempt=1, index=record.result_index, part=name
        )

    document = json.loads(part("json") or b"")
    assert document["id"] == job_id
    assert document["page_count"] == 3
    assert (part("markdown") or b"").startswith(b"# Quarterly Report")
    # Pages are stored in batches and found through the page index.
    index = repo.get_page(ctx.db, job_id=job_id, number=2)
    assert index is not None
    key = results.result_key(job_id, 1, index.batch)
    page = json.loads(ctx.blobs.get_range(key, index.offset, index.length))
    assert page["number"] == 2
    assert page["method"] == "text"
    assert (part("pages") or b"").count(b"\n") == 3  # the pages part holds all three
    assert b"1,1,1,Region,Q1,Q2,Q3" in (part("tables.csv") or b"")
    # A short document is written as one result object: its pages first, then every format.
    assert index.batch == "result"
    assert [p.name for p in (ctx.settings.data_dir / "blobs" / job_id / "a1").iterdir()] == [
        "result"
    ]
    # A short job announces its pages once, at the end (long ones a few times a second).
    assert [kind for kind, _ in notes] == ["pages"]
    assert [p["number"] for p in notes[0][1]["pages"]] == [1, 2, 3]
    assert notes[0][1]["job_id"] == job_id
    history = event_repo.list_events(ctx.db, job_id=job_id)
    kinds = [e.type for e in history]
    assert kinds == ["received", "stored", "started", "scanned", "pages", "extracted", "succeeded"]
    # finished pages are in the history too, with the progress they brought
    assert history[4].data == {
        "pages": [{"number": n, "method": "text"} for n in (1, 2, 3)],
        "pages_done": 3,
        "pages_total": 3,
    }


def test_progress_is_committed_while_a_long_job_runs(ctx: WorkerContext, monkeypatch) -> None:
    import pdfq.worker.pipeline as pipeline

    monkeypatch.setattr(pipeline, "FLUSH_SECONDS", 0.0)  # commit after every page
    job_id = add_job(ctx, samples.text_pdf(pages=4))
    seen: list[int] = []

    def notify(kind: str, data: dict[str, Any]) -> None:
        record = repo.get_job(ctx.db, job_id=job_id)
        assert record is not None
        seen.append(record.pages_done)

    run_job(ctx, job_id, notify=notify)
    assert seen == [1, 2, 3, 4]


def test_pages_flushed_early_and_pages_kept_to_the_end_are_all_in_the_result(
    ctx: WorkerContext, monkeypatch
) -> None:
    # The first page is flushed to a batch of its own; the rest wait for the result object,
    # which holds them once, inside its JSON, each readable by its own range.
    monkeypatch.setattr(pipeline, "FLUSH_SECONDS", 0.0)

    def notify(kind: str, data: dict[str, Any]) -> None:
        monkeypatch.setattr(pipeline, "FLUSH_SECONDS", 60.0)

    job_id = add_job(ctx, samples.text_pdf(pages=4))
    assert run_job(ctx, job_id, notify=notify).status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.result_index is not None
    document = json.loads(
        results.read_part(
            ctx.blobs, job_id=job_id, attempt=1, index=record.result_index, part="json"
        )
        or b""
    )
    assert [p["number"] for p in document["pages"]] == [1, 2, 3, 4]
    assert document["text"].count("\f") == 3
    batches = []
    for number in (1, 2, 3, 4):
        row = repo.get_page(ctx.db, job_id=job_id, number=number)
        assert row is not None
        batches.append(row.batch)
        data = ctx.blobs.get_range(results.result_key(job_id, 1, row.batch), row.offset, row.length)
        assert data.endswith(b"\n")
        assert json.loads(data) == document["pages"][number - 1]
    assert batches == [results.page_batch_name(1), "result", "result", "result"]


def test_password_is_used_then_wiped(ctx: WorkerContext) -> None:
    job_id = add_job(ctx, samples.encrypted_pdf("pw1"), password="pw1")
    assert run_job(ctx, job_id).status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.secret is None
    assert "pw1" not in json.dumps(
        [e.model_dump(mode="json") for e in event_repo.list_events(ctx.db, job_id=job_id)]
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (samples.encrypted_pdf("pw"), "encrypted"),
        (b"%PDF-1.7\n", "malformed_pdf"),
        (samples.page_tree_cycle_pdf(), "malformed_pdf"),
    ],
    ids=["encrypted", "header-only", "page-tree-cycle"],
)
def test_bad_documents_fail_with_their_code(ctx: WorkerContext, data: bytes, code: str) -> None:
    job_id = add_job(ctx, data)
    outcome = run_job(ctx, job_id)
    assert outcome.status == JobStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == code
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.error_code == code
    assert record.finished_at is not None
    assert not ctx.blobs.exists(results.result_key(job_id, 1))


def test_too_many_pages(make_ctx: Callable[..., WorkerContext]) -> None:
    ctx = make_ctx(max_pages=10)
    job_id = add_job(ctx, samples.text_pdf(pages=11, words_per_page=5))
    outcome = run_job(ctx, job_id)
    assert outcome.error is not None
    assert outcome.error.code == "too_many_pages"


def test_a_lost_lease_discards_the_attempt(ctx: WorkerContext, report_pdf: bytes) -> None:
    job_id = add_job(ctx, report_pdf)
    first = claim(ctx, job_id)
    # The sweeper decided the worker was dead and another worker took the job over.
    repo.requeue(ctx.db, job_id=job_id, attempt=1, reason="lease expired", max_attempts=3)
    second = claim(ctx, job_id)
    assert process_job(ctx, first).status is None
    assert not ctx.blobs.exists(results.result_key(job_id, 1))
    assert process_job(ctx, second).status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.result_attempt == 2


def test_a_canceled_job_stops_and_leaves_no_results(ctx: WorkerContext, monkeypatch) -> None:
    import pdfq.worker.pipeline as pipeline

    monkeypatch.setattr(pipeline, "FLUSH_SECONDS", 0.0)  # announce every page
    job_id = add_job(ctx, samples.text_pdf(pages=3))
    taken = claim(ctx, job_id)
    control = ctx.control_for(taken)
    pages: list[int] = []

    def cancel_after_first_page(kind: str, data: dict[str, Any]) -> None:
        pages.extend(p["number"] for p in data["pages"])
        repo.cancel(ctx.db, job_id=job_id)
        control.canceled.set()  # what the dispatcher's cancel message does

    outcome = process_job(ctx, taken, control=control, notify=cancel_after_first_page)
    assert outcome.status == JobStatus.CANCELED
    assert pages == [1]
    assert repo.get_job(ctx.db, job_id=job_id).status == JobStatus.CANCELED  # type: ignore[union-attr]
    assert not ctx.blobs.exists(results.result_key(job_id, 1, results.page_batch_name(1)))
    # A job canceled before it starts is not run at all.
    other = add_job(ctx, samples.text_pdf(pages=1))
    other_claim = claim(ctx, other)
    repo.cancel(ctx.db, job_id=other)
    assert process_job(ctx, other_claim).status is None


def test_the_soft_time_limit_fails_the_job(make_ctx: Callable[..., WorkerContext]) -> None:
    ctx = make_ctx(job_time_limit_seconds=0.000001)
    job_id = add_job(ctx, samples.text_pdf(pages=2))
    outcome = run_job(ctx, job_id)
    assert outcome.error is not None
    assert outcome.error.code == "timeout"


def test_storage_hiccups_requeue_the_job(
    ctx: WorkerContext, monkeypatch, report_pdf: bytes
) -> None:
    job_id = add_job(ctx, report_pdf)

    def broken_put(key: str, data: bytes) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(ctx.blobs, "put", broken_put)
    assert run_job(ctx, job_id).status == JobStatus.QUEUED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.attempts == 1
    kinds = [(e.type, e.data.get("reason")) for e in event_repo.list_events(ctx.db, job_id=job_id)]
    assert ("retried", "disk full") in kinds


def test_unexpected_errors_fail_as_internal(
    ctx: WorkerContext, monkeypatch, report_pdf: bytes
) -> None:
    import pdfq.worker.pipeline as pipeline

    def explode(**_kwargs: Any) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(pipeline, "assemble", explode)
    job_id = add_job(ctx, report_pdf)
    outcome = run_job(ctx, job_id)
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == (
        "internal",
        "unexpected error: ZeroDivisionError: boom",
    )


def test_a_page_whose_table_search_fails_still_succeeds_with_a_warning_event(
    ctx: WorkerContext, monkeypatch, report_pdf: bytes
) -> None:
    from pdfq.extract import document

    def explode(*_args: Any, **_kwargs: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(document, "find_tables", explode)
    job_id = add_job(ctx, report_pdf)
    assert run_job(ctx, job_id).status == JobStatus.SUCCEEDED
    warned = [e.data for e in event_repo.list_events(ctx.db, job_id=job_id)]
    warned = [data for data in warned if "warnings" in data]
    assert [data["page"] for data in warned] == [1, 2, 3]
    assert warned[0]["warnings"] == ["tables failed (ZeroDivisionError: float division by zero)"]


def test_a_missing_input_fails_with_storage_error(ctx: WorkerContext, report_pdf: bytes) -> None:
    job_id = add_job(ctx, report_pdf)
    ctx.blobs.delete_prefix(job_id)
    outcome = run_job(ctx, job_id)
    assert outcome.error is not None
    assert outcome.error.code == "storage_error"


def test_a_second_delivery_is_a_no_op(ctx: WorkerContext, report_pdf: bytes) -> None:
    job_id = add_job(ctx, report_pdf)
    assert run_job(ctx, job_id).status == JobStatus.SUCCEEDED
    assert run_job(ctx, job_id).status is None
    kinds = [e.type for e in event_repo.list_events(ctx.db, job_id=job_id)]
    assert kinds.count("succeeded") == 1
    assert kinds.count("started") == 1


def test_a_password_from_a_host_with_another_key_fails_clearly(
    make_ctx: Callable[..., WorkerContext],
) -> None:
    from pdfq.crypto import SecretBox

    ctx = make_ctx()
    job_id = new_id()
    ctx.blobs.put(results.input_key(job_id), samples.encrypted_pdf("pw"))
    other_host = SecretBox(b"0" * 43 + b"=")
    repo.create_job(
        ctx.db,
        new=NewJob(
            id=job_id,
            filename="doc.pdf",
            size_bytes=1,
            sha256="0" * 64,
            options=Options(),
            secret=other_host.encrypt("pw"),
        ),
    )
    outcome = run_job(ctx, job_id)
    assert outcome.error is not None
    assert outcome.error.code == "encrypted"
    assert "PDFQ_SECRET_KEY" in outcome.error.message


@pytest.mark.parametrize("landed", [True, False])
def test_a_finish_whose_answer_is_lost_keeps_its_result_if_it_landed(
    ctx: WorkerContext, monkeypatch, report_pdf: bytes, landed: bool
) -> None:
    # A connection lost after the finish was sent: the database may have committed it.
    real_finish = repo.finish

    def finish_then_lose_the_answer(db: Any, **kwargs: Any) -> bool:
        if landed:
            real_finish(db, **kwargs)
        raise Unavailable("database connection lost: server closed the connection")

    monkeypatch.setattr(repo, "finish", finish_then_lose_the_answer)
    job_id = add_job(ctx, report_pdf)
    outcome = run_job(ctx, job_id)
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    if landed:
        assert outcome.status == JobStatus.SUCCEEDED
        assert (record.status, record.result_attempt) == (JobStatus.SUCCEEDED, 1)
        assert record.result_index is not None
        document = results.read_part(
            ctx.blobs, job_id=job_id, attempt=1, index=record.result_index, part="json"
        )
        assert json.loads(document or b"")["page_count"] == 3
    else:
        assert outcome.status == JobStatus.QUEUED  # retried later, as any transient error
        assert record.status == JobStatus.QUEUED
        assert ctx.blobs.exists(results.input_key(job_id))
        assert not ctx.blobs.exists(results.result_key(job_id, 1, results.RESULT))


def _store_fails_the_end(ctx: WorkerContext, pages: int) -> str:
    """A job whose pages were indexed as they finished, then the store failed its finish
    and could not even say whether the finish landed: the attempt is left running."""
    job_id = add_job(ctx, samples.text_pdf(pages=pages))

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("database unavailable: connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "FLUSH_SECONDS", 0.0)
        patch.setattr(repo, "finish", store_down)
        patch.setattr(pipeline, "_published", store_down)
        with pytest.raises(Unavailable):
            run_job(ctx, job_id)
    failed = repo.get_job(ctx.db, job_id=job_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.pages_done) == (JobStatus.RUNNING, 1, pages)
    return job_id


def test_an_attempt_the_store_failed_mid_way_is_given_back_not_run_again(
    ctx: WorkerContext, monkeypatch
) -> None:
    """The queue retries such an attempt later. The retry gives it back; the next attempt
    starts over and the job ends with one result."""
    job_id = _store_fails_the_end(ctx, pages=4)
    monkeypatch.setattr(pipeline, "backoff_seconds", lambda attempt: 0.0)  # claimable at once
    # A retry naming another process as the attempt's holder finds the job is not its own
    # (another process may run the attempt's number after a graceful hand-back).
    elsewhere = pipeline.give_back_after_store_failure(
        ctx, Claim(job_id=job_id, attempt=1), owner="another-host:1"
    )
    assert elsewhere.status is None
    assert ctx.blobs.exists(results.input_key(job_id))
    retried = pipeline.give_back_after_store_failure(
        ctx, Claim(job_id=job_id, attempt=1), owner=ctx.owner
    )
    assert retried.status == JobStatus.QUEUED
    assert not ctx.blobs.exists(results.result_key(job_id, 1, results.RESULT))
    # A second retry of the same attempt (a duplicate message) changes nothing.
    again = pipeline.give_back_after_store_failure(ctx, Claim(job_id=job_id, attempt=1))
    assert again.status is None

    assert run_job(ctx, job_id).status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.attempts, record.result_attempt, record.pages_done) == (2, 2, 4)
    assert [p.number for p in repo.list_pages(ctx.db, job_id=job_id)] == [1, 2, 3, 4]
    succeeded = [e for e in event_repo.list_events(ctx.db, job_id=job_id) if e.type == "succeeded"]
    assert len(succeeded) == 1


def test_running_a_failed_attempt_again_in_place_would_fail_the_job(ctx: WorkerContext) -> None:
    """Why the retry gives the attempt back: its pages are indexed already."""
    job_id = _store_fails_the_end(ctx, pages=2)
    outcome = process_job(ctx, Claim(job_id=job_id, attempt=1))
    assert outcome.status == JobStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == "internal"
