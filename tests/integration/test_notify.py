"""Notifications on PostgreSQL: what the events trigger (migrations 0007 and 0009) announces,
and when, read by a real ``LISTEN`` and by the API's own :class:`~pdfq.store.notify.Listener`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pdfq.domain import ErrorCode, JobError, Options, new_id
from pdfq.store import Database
from pdfq.store import jobs as repo
from pdfq.store.events import insert_events
from pdfq.store.jobs import NewJob, PageRecord, utcnow
from pdfq.store.migrate import upgrade
from pdfq.store.notify import CHANNEL, Listener, ended_job, publish
from tests.helpers import downgrade, new_job, wait_until


@pytest.fixture
def listening(pg: Database) -> Iterator[psycopg.Connection[Any]]:
    dsn = pg.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


def heard(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every notification delivered until the channel stays quiet for half a second."""
    return [json.loads(note.payload) for note in conn.notifies(timeout=0.5)]


def create(db: Database) -> str:
    new = NewJob(id=new_id(), filename="a.pdf", size_bytes=1, sha256="0" * 64, options=Options())
    return repo.create_job(db, new=new)[0].id


def page(number: int) -> PageRecord:
    return PageRecord(
        number=number, attempt=1, method="text", chars=1, tables=0, batch="b", offset=0, length=1
    )


def test_each_committed_step_is_announced_once_in_order(
    pg: Database, listening: psycopg.Connection[Any]
) -> None:
    job_id = create(pg)
    assert heard(listening) == []  # an arrival: nobody can be watching yet

    claim = repo.claim_next(pg, owner="w", lease_seconds=60)
    assert claim is not None
    assert heard(listening) == [{"kind": "job", "data": {"job_id": job_id, "events": ["started"]}}]

    repo.record_progress(pg, job_id=job_id, attempt=1, pages_total=2, page_records=[page(1)])
    repo.finish(pg, job_id=job_id, attempt=1, result_index={"json": (0, 1)}, page_records=[page(2)])
    progress, end = heard(listening)
    assert progress == {"kind": "job", "data": {"job_id": job_id, "events": ["pages"]}}
    assert end["data"].pop("job")["status"] == "succeeded"  # migration 0009: the job as it ended
    assert end == {"kind": "job", "data": {"job_id": job_id, "events": ["pages", "succeeded"]}}


def test_a_rolled_back_transaction_announces_nothing(
    pg: Database, listening: psycopg.Connection[Any]
) -> None:
    job_id = create(pg)

    def insert_then_fail() -> None:
        with pg.write() as conn:
            insert_events(conn, job_id, [("note", {})], utcnow())
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    assert heard(listening) == []
    with pg.write() as conn:
        insert_events(conn, job_id, [("note", {}), ("other", {})], utcnow())
    assert heard(listening) == [
        {"kind": "job", "data": {"job_id": job_id, "events": ["note", "other"]}}
    ]


@pytest.fixture(params=["one host", "fail-over hosts"])
def listened_db(request: pytest.FixtureRequest, pg: Database, pg_url: str) -> Iterator[Database]:
    """The store, and the same store reached through libpq's fail-over list of hosts (the
    first refuses connections), as SQLAlchemy's URLs write it: ``?host=a:1&host=b:5432``."""
    if request.param == "one host":
        yield pg
        return
    url = make_url(pg_url)
    hosts = [("host", f"{url.host}:1"), ("host", f"{url.host}:{url.port or 5432}")]
    db = Database(url.set(host=None, port=None).update_query_pairs(hosts).render_as_string(False))
    yield db
    db.dispose()


def test_the_api_listener_hears_workers_and_published_changes(listened_db: Database) -> None:
    pg = listened_db
    delivered: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def deliver(kind: str, data: dict[str, Any]) -> None:
        with lock:
            delivered.append((kind, data))

    listener = Listener(pg, deliver)
    listener.start()
    try:

        def published_and_heard() -> bool:  # LISTEN takes effect a moment after start
            publish(pg, "job", {"job_id": "x", "status": None})
            return bool(delivered)

        wait_until(published_and_heard)
        assert delivered[0] == ("job", {"job_id": "x", "status": None})
        job_id = create(pg)
        repo.claim_next(pg, owner="w", lease_seconds=60)
        wait_until(lambda: ("job", {"job_id": job_id, "events": ["started"]}) in delivered)
    finally:
        listener.stop()


def announcing_triggers(db: Database) -> int:
    with db.read() as conn:
        query = "SELECT count(*) FROM pg_trigger WHERE tgname = 'events_announce'"
        return int(conn.exec_driver_sql(query).scalar_one())


def test_the_trigger_goes_with_a_downgrade_and_comes_back(pg: Database) -> None:
    downgrade(pg, "0006")
    assert announcing_triggers(pg) == 0
    upgrade(pg)
    assert announcing_triggers(pg) == 1


def shown(db: Database, job_id: str) -> str:
    record = repo.get_job(db, job_id=job_id)
    assert record is not None
    return record.to_job().model_dump_json()


@pytest.mark.parametrize("webhook", [None, "https://example.com/hook"])
def test_an_end_carries_the_job_exactly_as_a_read_after_it_shows_it(
    pg: Database, listening: psycopg.Connection[Any], webhook: str | None
) -> None:
    # A success and a failure in one statement (no webhook) and in a transaction (webhook),
    # and a cancel: each announcement's job must equal what a read right after shows, since
    # the long poll answers with it instead of reading (routes/jobs.py).
    tenant = "acme"
    done = repo.create_job(pg, new=new_job(tenant=tenant, webhook_url=webhook))[0].id
    failed = repo.create_job(pg, new=new_job(tenant=tenant, webhook_url=webhook))[0].id
    lost = repo.create_job(pg, new=new_job(tenant=tenant, webhook_url=webhook))[0].id
    canceled = repo.create_job(pg, new=new_job(tenant=tenant, webhook_url=webhook))[0].id
    for _ in range(3):
        assert repo.claim_next(pg, owner="w", lease_seconds=60) is not None
    repo.finish(pg, job_id=done, attempt=1, result_index={"json": (0, 1)}, page_records=[page(1)])
    broken = JobError(code=ErrorCode.MALFORMED_PDF, message="no pages")
    repo.finish(pg, job_id=failed, attempt=1, error=broken)
    repo.requeue(pg, job_id=lost, attempt=1, reason="worker lost", max_attempts=1)
    repo.cancel(pg, job_id=canceled)

    notes = heard(listening)
    ends = ((done, "succeeded"), (failed, "failed"), (lost, "failed"), (canceled, "canceled"))
    for job_id, status in ends:
        (data,) = [n["data"] for n in notes if n["data"]["job_id"] == job_id and "job" in n["data"]]
        assert status in data["events"]
        carried = ended_job(data)
        assert carried is not None
        assert carried[0] == tenant
        assert carried[1].model_dump_json() == shown(pg, job_id)


def test_an_end_too_large_to_carry_is_announced_without_the_job(
    pg: Database, listening: psycopg.Connection[Any]
) -> None:
    job_id = create(pg)
    assert repo.claim_next(pg, owner="w", lease_seconds=60) is not None
    message = "x" * 9000  # PostgreSQL refuses payloads of 8,000 bytes or more
    error = JobError(code=ErrorCode.MALFORMED_PDF, message=message)
    assert repo.finish(pg, job_id=job_id, attempt=1, error=error)
    ends = [n["data"] for n in heard(listening) if "failed" in n["data"]["events"]]
    assert ends == [{"job_id": job_id, "events": ["failed"]}]
    assert ended_job(ends[0]) is None
    record = repo.get_job(pg, job_id=job_id)
    assert record is not None
    assert record.error_message == message  # the end committed


def test_a_job_this_version_cannot_read_means_reading_the_store() -> None:
    assert ended_job({"job_id": "x", "events": ["succeeded"]}) is None
    assert ended_job({"job_id": "x", "events": ["succeeded"], "job": {"id": "x"}}) is None
