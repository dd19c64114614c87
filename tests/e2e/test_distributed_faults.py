"""Faults in the distributed shape, for real: a worker killed mid-run, the broker losing its
messages, the database dropping connections, a PDF that kills its worker every time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests import samples
from tests.helpers import Cluster, submit, wait_job, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services]


def submit_many(client: httpx.Client, count: int, data: bytes) -> list[str]:
    return [submit(client, data, f"doc-{i}.pdf").json()["id"] for i in range(count)]


def wait_all(client: httpx.Client, ids: list[str], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    statuses: dict[str, int] = {}
    while time.monotonic() < deadline:
        page = client.get("/v1/jobs", params={"limit": 500}).json()["items"]
        ended = [
            j
            for j in page
            if j["id"] in set(ids) and j["status"] in ("succeeded", "failed", "canceled")
        ]
        if len(ended) == len(ids):
            statuses = {}
            for job in ended:
                statuses[job["status"]] = statuses.get(job["status"], 0) + 1
            return statuses
        time.sleep(0.5)
    raise AssertionError(f"jobs did not all end in {timeout}s")


def assert_each_succeeded_once(pg_url: str, ids: list[str]) -> None:
    """Exactly one `succeeded` event and one published result per job (read from the store)."""
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                text("SELECT job_id, count(*) FROM events WHERE type = 'succeeded' GROUP BY job_id")
            ).all()
        )
        published = conn.execute(
            text(
                "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND result_attempt IS NOT NULL"
            )
        ).scalar_one()
    engine.dispose()
    assert {job_id: counts.get(job_id) for job_id in ids} == dict.fromkeys(ids, 1)
    assert published == len(ids)


@pytest.fixture
def cluster(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    env = {**cluster_env, "PDFQ_LOST_MESSAGE_SECONDS": "2"}
    running = Cluster(tmp_path / "cluster", env).start(workers=2)
    running.wait_for_workers()
    yield running
    running.stop()


def test_sigkill_of_a_worker_mid_run_loses_and_duplicates_nothing(
    cluster: Cluster, pg_url: str
) -> None:
    data = samples.text_pdf(pages=3, words_per_page=100)
    with cluster.client() as client:
        ids = submit_many(client, 200, data)
        wait_until(
            lambda: (
                client.get("/v1/jobs", params={"status": "succeeded", "limit": 500})
                .json()["items"]
                .__len__()
                >= 30
            ),
            timeout=60,
        )
        cluster.kill_worker(cluster.workers[0])  # the worker and its pool, mid-run
        assert wait_all(client, ids, timeout=180) == {"succeeded": 200}, cluster.logs()
    assert_each_succeeded_once(pg_url, ids)


def test_a_killed_pool_process_is_replaced_and_its_job_finishes(
    cluster: Cluster, pg_url: str
) -> None:
    import os
    import signal

    broker = redis.Redis.from_url(cluster.env["PDFQ_BROKER_URL"])
    with cluster.client() as client:
        victim = submit(client, samples.grid_pdf(pages=40)).json()["id"]
        wait_job(client, victim, predicate=lambda j: j["progress"]["pages_done"] >= 1, timeout=60)
        # No copy of the running job's message in Redis (kombu's ack emulation is off): the
        # worker puts it back from memory when its pool process dies, and the store does the rest.
        assert broker.keys("unacked*") == []
        for worker in cluster.workers:
            for pid in cluster.pool_pids(worker):
                os.kill(pid, signal.SIGKILL)  # whichever pool process runs it dies
        others = submit_many(client, 10, samples.text_pdf(pages=1))
        assert wait_job(client, victim, timeout=180)["status"] == "succeeded", cluster.logs()
        assert wait_all(client, others, timeout=60) == {"succeeded": 10}
    assert_each_succeeded_once(pg_url, [victim, *others])


def test_the_broker_losing_its_messages_loses_no_job(cluster: Cluster, pg_url: str) -> None:
    data = samples.text_pdf(pages=3, words_per_page=100)
    broker = redis.Redis.from_url(cluster.env["PDFQ_BROKER_URL"])
    with cluster.client() as client:
        ids = submit_many(client, 120, data)
        wait_until(
            lambda: (
                len(
                    client.get("/v1/jobs", params={"status": "succeeded", "limit": 500}).json()[
                        "items"
                    ]
                )
                >= 10
            ),
            timeout=60,
        )
        broker.flushdb()  # what a Redis restart without persistence does to the queue
        assert wait_all(client, ids, timeout=180) == {"succeeded": 120}, cluster.logs()
    assert_each_succeeded_once(pg_url, ids)


def test_dropped_database_connections_lose_nothing(cluster: Cluster, pg_url: str) -> None:
    data = samples.text_pdf(pages=3, words_per_page=100)
    database = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    cut: list[int] = []

    def drop_connections() -> None:
        # For three seconds, every connection to the job store is cut as soon as it exists.
        deadline = time.monotonic() + 3
        with admin.connect() as conn:
            while time.monotonic() < deadline:
                killed = conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).scalar_one()
                cut.append(killed)
                time.sleep(0.05)

    with cluster.client() as client:
        ids = submit_many(client, 60, data)
        wait_until(
            lambda: (
                len(
                    client.get("/v1/jobs", params={"status": "succeeded", "limit": 500}).json()[
                        "items"
                    ]
                )
                >= 5
            ),
            timeout=60,
        )
        dropper = threading.Thread(target=drop_connections)
        dropper.start()
        dropper.join()
        assert sum(cut) >= 3  # the API's and both workers' connections were cut
        assert wait_all(client, ids, timeout=180) == {"succeeded": 60}, cluster.logs()
    admin.dispose()
    assert_each_succeeded_once(pg_url, ids)


def test_a_pdf_that_kills_its_worker_every_time_fails_worker_lost(
    tmp_path: Path,
    cluster_env: dict[str, str],
    pg_url: str,
) -> None:
    env = {
        **cluster_env,
        "PDFQ_MAX_ATTEMPTS": "2",
        "PDFQ_WORKER_MAX_MEMORY_MB": "400",
        "PDFQ_MAX_STREAM_BYTES": str(1 << 30),
    }
    running = Cluster(tmp_path / "poison", env).start(workers=2)
    try:
        running.wait_for_workers()
        poison = samples.stream_pdf(b"BT /F1 12 Tf 72 700 Td (hi) Tj ET\n" + b" " * (600 << 20))
        with running.client() as client:
            bad = submit(client, poison, "poison.pdf").json()["id"]
            good = submit_many(client, 10, samples.text_pdf(pages=1))
            job = wait_job(client, bad, timeout=120)
            assert job["status"] == "failed", running.logs()
            assert job["error"]["code"] == "worker_lost"
            assert "memory cap (400 MiB)" in job["error"]["message"]
            assert job["attempts"] == 2
            assert wait_all(client, good, timeout=60) == {"succeeded": 10}
    finally:
        running.stop()
