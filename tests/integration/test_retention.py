"""Retention on SQLite and PostgreSQL with a clock the test controls: what expires goes, files
before rows, and nothing else is touched."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from pdfq import results
from pdfq.blobs.local import LocalBlobs
from pdfq.errors import StorageError
from pdfq.store import Database
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.store.retention import Retention, cleanup
from tests.integration.test_outbox import run_to_success
from tests.integration.test_store import make_job

DAY = timedelta(days=1)


def job(db: Database, job_id: str) -> repo.JobRecord:
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    return record


def with_files(blobs: LocalBlobs, job_id: str) -> None:
    blobs.put(results.input_key(job_id), b"%PDF-1.7 input")
    blobs.put(results.result_key(job_id, 1), b"result")


def test_each_clock_removes_its_part_and_nothing_else(db: Database, tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    done = make_job(db)
    with_files(blobs, done)
    run_to_success(db, done)
    queued = make_job(db)
    with_files(blobs, queued)
    running = make_job(db)
    with_files(blobs, running)
    assert repo.claim(db, job_id=running, owner="w", lease_seconds=60)
    ended_at = job(db, done).finished_at
    assert ended_at is not None
    retention = Retention(inputs=timedelta(hours=1), results=7 * DAY, records=30 * DAY)

    early = cleanup(db, blobs, retention, now=ended_at + timedelta(minutes=30))
    assert early.empty

    inputs = cleanup(db, blobs, retention, now=ended_at + 2 * timedelta(hours=1))
    assert inputs.inputs == [done]
    assert not blobs.exists(results.input_key(done))
    assert blobs.exists(results.result_key(done, 1))
    assert job(db, done).input_removed_at is not None

    expired = cleanup(db, blobs, retention, now=ended_at + 8 * DAY)
    assert expired.results == [done]
    assert not (blobs.root / done).exists()
    record = job(db, done)
    assert record.expired_at is not None
    assert record.result_index is None
    assert repo.list_pages(db, job_id=done) == []
    assert event_repo.list_events(db, job_id=done)  # the audit trail stays

    gone = cleanup(db, blobs, retention, now=ended_at + 31 * DAY)
    assert gone.records == [done]
    assert repo.get_job(db, job_id=done) is None
    assert event_repo.list_events(db, job_id=done) == []
    # queued and running work never expires
    for job_id in (queued, running):
        assert repo.get_job(db, job_id=job_id) is not None
        assert blobs.exists(results.input_key(job_id))


def test_the_pdf_converted_from_an_upload_goes_with_the_input(db: Database, tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    done = make_job(db)
    with_files(blobs, done)
    blobs.put(results.converted_key(done), b"%PDF-1.7 converted")
    run_to_success(db, done)
    ended_at = job(db, done).finished_at
    assert ended_at is not None
    retention = Retention(inputs=timedelta(hours=1), results=7 * DAY, records=30 * DAY)
    assert cleanup(db, blobs, retention, now=ended_at + 2 * timedelta(hours=1)).inputs == [done]
    assert not blobs.exists(results.input_key(done))
    assert not blobs.exists(results.converted_key(done))
    assert blobs.exists(results.result_key(done, 1))


def test_a_dry_run_changes_nothing(db: Database, tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    job_id = make_job(db)
    with_files(blobs, job_id)
    run_to_success(db, job_id)
    ended_at = job(db, job_id).finished_at
    assert ended_at is not None
    report = cleanup(
        db, blobs, Retention(results=DAY, records=2 * DAY), now=ended_at + 3 * DAY, dry_run=True
    )
    assert report.results == [job_id]
    assert report.events > 0
    assert job(db, job_id).expired_at is None
    assert blobs.exists(results.input_key(job_id))


def test_cleanups_running_at_once_share_the_work(db: Database, tmp_path: Path) -> None:
    blobs = LocalBlobs(tmp_path / "blobs")
    ids = [make_job(db) for _ in range(30)]
    for job_id in ids:
        with_files(blobs, job_id)
        run_to_success(db, job_id)
    later = repo.utcnow() + 2 * DAY
    reports = []

    def run() -> None:
        reports.append(cleanup(db, blobs, Retention(results=DAY), now=later, batch=7))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expired = [job_id for report in reports for job_id in report.results]
    assert sorted(expired) == sorted(ids)  # each job expired once, by one of them
    assert all(job(db, j).expired_at for j in ids)
    assert not any((blobs.root / j).exists() for j in ids)


def test_a_retried_job_does_not_lose_its_input(db: Database, tmp_path: Path) -> None:
    from pdfq.domain import ErrorCode, JobError

    blobs = LocalBlobs(tmp_path / "blobs")
    job_id = make_job(db)
    with_files(blobs, job_id)
    repo.claim(db, job_id=job_id, owner="w", lease_seconds=60)
    repo.finish(db, job_id=job_id, attempt=1, error=JobError(code=ErrorCode.TIMEOUT, message="x"))
    assert repo.retry(db, job_id=job_id) is not None  # queued again before the cleanup came
    ended = repo.utcnow() + 2 * DAY
    report = cleanup(db, blobs, Retention(inputs=timedelta(hours=1)), now=ended)
    assert report.inputs == []
    assert blobs.exists(results.input_key(job_id))


def test_files_storage_keeps_do_not_stop_the_clean_up_of_other_jobs(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object lock, a policy that denies deleting: that job's files stay (logged), and
    the other jobs are cleaned up as usual."""
    blobs = LocalBlobs(tmp_path / "blobs")
    locked, other = make_job(db), make_job(db)
    for job_id in (locked, other):
        with_files(blobs, job_id)
        run_to_success(db, job_id)
    real_delete_prefix = blobs.delete_prefix

    def keep_locked(prefix: str) -> int:
        if prefix == locked:
            raise StorageError(f"S3 kept 2 of 2 files under {locked}: AccessDenied")
        return real_delete_prefix(prefix)

    monkeypatch.setattr(blobs, "delete_prefix", keep_locked)
    finished = [job(db, j).finished_at for j in (locked, other)]
    ended_at = max(t for t in finished if t is not None)
    retention = Retention(results=DAY, records=2 * DAY)
    report = cleanup(db, blobs, retention, now=ended_at + 3 * DAY)
    assert report.results == [other]
    assert report.records == [other]
    assert not (blobs.root / other).exists()
    # The locked job's row stays while its files do: without it nothing could find them.
    assert blobs.exists(results.input_key(locked))
    assert job(db, locked).expired_at is not None
    assert cleanup(db, blobs, retention, now=ended_at + 4 * DAY).records == []

    monkeypatch.undo()  # the lock is lifted: a later clean-up finishes the job
    later = cleanup(db, blobs, retention, now=ended_at + 5 * DAY)
    assert (later.results, later.records) == ([locked], [locked])
    assert not (blobs.root / locked).exists()
    assert repo.get_job(db, job_id=locked) is None


def test_a_job_expiring_with_files_kept_cannot_be_retried(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its record says its files are not all gone, not that it may run again."""
    blobs = LocalBlobs(tmp_path / "blobs")
    job_id = make_job(db)
    with_files(blobs, job_id)
    canceled, _ = repo.cancel(db, job_id=job_id)
    assert canceled is not None
    assert canceled.finished_at is not None

    def keep(prefix: str) -> int:
        raise StorageError(f"S3 kept 2 of 2 files under {prefix}: AccessDenied")

    monkeypatch.setattr(blobs, "delete_prefix", keep)
    cleanup(db, blobs, Retention(results=DAY), now=canceled.finished_at + 2 * DAY)
    record = job(db, job_id)
    assert record.expired_at is not None
    assert record.input_removed_at is None
    assert repo.retry(db, job_id=job_id) is None


def test_many_jobs_whose_files_are_kept_do_not_hold_back_the_others(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs whose files storage keeps are taken up again by later clean-ups, oldest first; a
    batch's worth of them must not be all each batch finds, or no other job would expire."""
    blobs = LocalBlobs(tmp_path / "blobs")
    locked = [make_job(db) for _ in range(5)]
    for job_id in locked:
        with_files(blobs, job_id)
        run_to_success(db, job_id)
    real_delete_prefix = blobs.delete_prefix

    def keep_locked(prefix: str) -> int:
        if prefix in locked:
            raise StorageError(f"S3 kept 2 of 2 files under {prefix}: AccessDenied")
        return real_delete_prefix(prefix)

    monkeypatch.setattr(blobs, "delete_prefix", keep_locked)
    retention = Retention(results=DAY)
    first_end = job(db, locked[-1]).finished_at
    assert first_end is not None
    assert cleanup(db, blobs, retention, now=first_end + 2 * DAY, batch=2).results == []

    later = make_job(db)  # ends after all of them
    with_files(blobs, later)
    run_to_success(db, later)
    # A day on: the kept jobs are due for another try, and ahead of `later` in age.
    report = cleanup(db, blobs, retention, now=first_end + 5 * DAY, batch=2)
    assert report.results == [later]
    assert not (blobs.root / later).exists()
    assert all(blobs.exists(results.input_key(job_id)) for job_id in locked)
