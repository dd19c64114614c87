"""The long poll of the distributed shape against the real PostgreSQL and Redis: the API in
this process, the test in the worker's place. A job's end reaches the waiting request by
PostgreSQL's ``NOTIFY``, which carries the job as it ended (migration 0009), so the request
answers without reading the job again, unless the announcement could not carry it. A poll
that comes right after the upload does not read the job before its end either: the API
created it moments ago and has seen no end since."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pdfq.api.routes import jobs as routes
from pdfq.api.services import Services
from pdfq.domain import ErrorCode, JobError
from pdfq.store import Database
from pdfq.store import jobs as repo
from tests import samples
from tests.helpers import page_record, submit, wait_until

pytestmark = pytest.mark.services


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The job ids the routes read from the store, in order."""
    done: list[str] = []
    load = routes.load_job

    async def counted(services: Services, job_id: str, tenant: str) -> repo.JobRecord:
        done.append(job_id)
        return await load(services, job_id, tenant)

    monkeypatch.setattr(routes, "load_job", counted)
    return done


def waiting(client: TestClient, job_id: str) -> tuple[threading.Thread, list[httpx.Response]]:
    """A long poll of the job on a thread of its own, once the API holds it."""
    answers: list[httpx.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(client.get(f"/v1/jobs/{job_id}", params={"wait": 20}))
    )
    poll.start()
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    wait_until(lambda: services.events.watched_jobs == 1)
    return poll, answers


def end(pg: Database, job_id: str, error: JobError | None) -> None:
    claim = repo.claim_next(pg, owner="test", lease_seconds=60)
    assert claim is not None
    assert claim.job_id == job_id
    index = None if error else {"json": (0, 1)}
    pages = [] if error else [page_record(1)]
    assert repo.finish(
        pg, job_id=job_id, attempt=1, error=error, result_index=index, page_records=pages
    )


@pytest.mark.parametrize(
    ("error", "reads_after_the_end"),
    [
        (None, 0),
        (JobError(code=ErrorCode.MALFORMED_PDF, message="no pages"), 0),
        # Too long for an 8,000-byte notification: announced without the job, so read.
        (JobError(code=ErrorCode.MALFORMED_PDF, message="x" * 9000), 1),
    ],
)
def test_a_waiting_request_answers_from_the_announced_end(
    make_client: Callable[..., TestClient],
    pg_url: str,
    pg: Database,
    redis_url: str,
    reads: list[str],
    error: JobError | None,
    reads_after_the_end: int,
) -> None:
    client = make_client(database_url=pg_url, queue="celery", broker_url=redis_url, dedupe=False)
    job_id = submit(client, samples.text_pdf(pages=1)).json()["id"]
    poll, answers = waiting(client, job_id)
    assert reads == []  # created here moments ago, no end seen: nothing to read yet

    end(pg, job_id, error)
    poll.join(20)
    assert not poll.is_alive()
    (answer,) = answers
    assert answer.status_code == 200
    waited: dict[str, Any] = answer.json()
    assert waited["status"] == ("failed" if error else "succeeded")
    assert len(reads) == reads_after_the_end
    assert waited == client.get(f"/v1/jobs/{job_id}").json()  # what a read shows, exactly


def test_a_poll_after_the_announced_end_reads_the_job_and_answers_at_once(
    make_client: Callable[..., TestClient],
    pg_url: str,
    pg: Database,
    redis_url: str,
    reads: list[str],
) -> None:
    client = make_client(database_url=pg_url, queue="celery", broker_url=redis_url, dedupe=False)
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    job_id = submit(client, samples.text_pdf(pages=1)).json()["id"]
    assert services.events.not_ended(job_id, "default")
    end(pg, job_id, None)
    # The announcement clears the mark even though nobody was waiting then.
    wait_until(lambda: not services.events.not_ended(job_id, "default"))

    started = time.monotonic()
    answer = client.get(f"/v1/jobs/{job_id}", params={"wait": 20})
    assert time.monotonic() - started < 0.9  # not the one-second re-read of a missed end
    assert answer.json()["status"] == "succeeded"
    assert reads == [job_id]


def test_a_poll_that_runs_out_reads_the_job_it_skipped(
    make_client: Callable[..., TestClient],
    pg_url: str,
    redis_url: str,
    reads: list[str],
) -> None:
    client = make_client(database_url=pg_url, queue="celery", broker_url=redis_url, dedupe=False)
    job_id = submit(client, samples.text_pdf(pages=1)).json()["id"]
    answer = client.get(f"/v1/jobs/{job_id}", params={"wait": 0.3})
    assert answer.status_code == 200
    assert answer.json()["status"] == "queued"
    assert reads == [job_id]  # once, when the wait ran out


def test_jobs_are_not_marked_where_no_end_is_announced(
    make_client: Callable[..., TestClient], redis_url: str
) -> None:
    # Celery with SQLite: nothing carries a job's end to the API, so a poll must read first.
    client = make_client(queue="celery", broker_url=redis_url, dedupe=False)
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert not services.queue.announces_ends
    job_id = submit(client, samples.text_pdf(pages=1)).json()["id"]
    assert not services.events.not_ended(job_id, "default")
