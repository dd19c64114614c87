"""The distributed shape for real: `pdfq serve` and Celery `pdfq worker` processes against the
PostgreSQL, Redis and RabbitMQ of this machine and an S3 server (moto) started by the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import samples
from tests.helpers import Cluster, LiveServer, events_of, overtaking, submit, wait_job

pytestmark = [pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def cluster(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Cluster]:
    running = Cluster(tmp_path / "cluster", cluster_env).start(workers=2)
    running.wait_for_workers()
    yield running
    running.stop()


def test_jobs_run_on_celery_workers_with_results_in_s3(cluster: Cluster, s3_endpoint: str) -> None:
    import boto3

    with cluster.client() as client:
        job_id = submit(client, samples.report_pdf(pages=3)).json()["id"]
        job = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
        assert job["status"] == "succeeded", cluster.logs()
        result = client.get(f"/v1/jobs/{job_id}/result").json()
        assert result["pages"][0]["tables"][0]["rows"] == samples.TABLE_ROWS
        assert client.get(f"/v1/jobs/{job_id}/pages/2").json()["number"] == 2
        markdown = client.get(f"/v1/jobs/{job_id}/result", params={"format": "markdown"}).text
        assert markdown.startswith("# Quarterly Report")
        assert "1,1,1,Region" in client.get(f"/v1/jobs/{job_id}/tables.csv").text
        assert client.get("/readyz").json()["checks"] == {
            "store": "ok",
            "blobs": "ok",
            "queue": "ok",
        }

        bucket = cluster.env["PDFQ_BLOBS_URL"].split("/")[2]
        s3 = boto3.client("s3", endpoint_url=s3_endpoint)
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"pdfq/{job_id}/")["Contents"]
        ]
        assert f"pdfq/{job_id}/input" in keys
        assert f"pdfq/{job_id}/a1/result" in keys
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"pdfq/{job_id}/")


def _what_the_client_gets(url: str, documents: dict[str, bytes]) -> dict[str, Any]:
    """The README's client code, for each document: submit, wait, every form of the result,
    the pages as they finish and the events, less what differs by run (ids, times)."""
    import pdfq

    got: dict[str, Any] = {}
    with pdfq.Client(url, timeout=120) as client:
        for name, data in documents.items():
            job = client.wait(client.submit(data, filename=name).id, timeout=120)
            result = client.result(job.id).model_dump(exclude={"id"})
            for page in result["pages"]:
                page.pop("ocr_seconds")
            got[name] = {
                "status": job.status,
                "progress": job.progress,
                "result": result,
                "markdown": client.result(job.id, "markdown"),
                "text": client.result(job.id, "text"),
                "tables": client.tables_csv(job.id),
                "pages": [(p.number, p.method, p.text) for p in client.iter_pages(job.id)],
                "events": [e.type for e in client.history(job.id)],
            }
    return got


def test_the_same_client_code_gets_the_same_results_from_both_shapes(
    cluster: Cluster, tmp_path: Path
) -> None:
    """What issue 3 is done by: `pdfq serve` with Celery, PostgreSQL and S3 plus `pdfq
    worker`, and the embedded `pdfq serve` of the README, answer the same client code alike."""
    from tests.scans import mixed_pdf

    documents = {
        "report.pdf": samples.report_pdf(pages=3),
        "text.pdf": samples.text_pdf(pages=2),
        "scanned.pdf": mixed_pdf("ts").pdf,
    }
    embedded = LiveServer(tmp_path / "embedded").start()
    try:
        alone = _what_the_client_gets(embedded.url, documents)
    finally:
        embedded.kill_group()
    distributed = _what_the_client_gets(cluster.api.url, documents)
    assert distributed == alone, cluster.logs()
    assert alone["report.pdf"]["result"]["pages"][0]["tables"][0]["rows"] == samples.TABLE_ROWS
    assert [method for _, method, _ in alone["scanned.pdf"]["pages"]] == ["text", "ocr"]
    assert alone["text.pdf"]["events"][-1] == "succeeded"


def test_the_long_poll_is_woken_by_workers_on_other_processes(cluster: Cluster) -> None:
    # A long poll also re-reads the store every second, so being answered soon after the job
    # ended could be luck once; five times in a row it is the worker's notification (through
    # PostgreSQL) that woke it.
    document = samples.text_pdf(pages=20)  # long enough for the poll to start first
    with cluster.client() as client:
        for _ in range(5):
            job_id = submit(client, document).json()["id"]
            job = client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()
            answered = datetime.now(UTC)
            assert job["status"] == "succeeded"
            assert answered - datetime.fromisoformat(job["finished_at"]) < timedelta(seconds=0.4)


def test_a_large_document_fans_out_over_two_workers(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    env = {**cluster_env, "PDFQ_FANOUT_PAGES": "20", "PDFQ_FANOUT_CHUNK_PAGES": "10"}
    running = Cluster(tmp_path / "fan", env).start(workers=2)
    try:
        running.wait_for_workers()
        with running.client() as client:
            job_id = submit(client, samples.report_pdf(pages=60)).json()["id"]
            job = wait_job(client, job_id, timeout=120)
            assert job["status"] == "succeeded", running.logs()
            assert job["progress"] == {"pages_done": 60, "pages_total": 60}
            result = client.get(f"/v1/jobs/{job_id}/result").json()
            assert [p["number"] for p in result["pages"]] == list(range(1, 61))
            kinds = [e["type"] for e in events_of(client, job_id)]
            assert kinds.count("fanned_out") == 1
            assert kinds.count("merged") == 1
    finally:
        running.stop()


def test_a_duplicated_message_runs_once(cluster: Cluster) -> None:
    from pdfq.config import Settings
    from pdfq.queue.celery import create_celery, send

    app = create_celery(Settings(queue="celery", broker_url=cluster.env["PDFQ_BROKER_URL"]))
    with cluster.client() as client:
        job_id = submit(client, samples.text_pdf(pages=2)).json()["id"]
        send(app, job_id)
        send(app, job_id)  # the same message, three times in all
        assert wait_job(client, job_id)["status"] == "succeeded"
        time.sleep(2)
        kinds = [e["type"] for e in events_of(client, job_id)]
        assert kinds.count("started") == 1
        assert kinds.count("succeeded") == 1


def test_cancel_stops_a_running_task_within_two_seconds(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    # One worker process and a long lease: only the cancel command can free it quickly.
    env = {**cluster_env, "PDFQ_LEASE_SECONDS": "120"}
    running = Cluster(tmp_path / "cancel", env).start(workers=1)
    try:
        running.wait_for_workers()
        with running.client() as client:
            job_id = submit(client, samples.grid_pdf(pages=80)).json()["id"]
            wait_job(
                client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 1, timeout=60
            )
            quick = submit(client, samples.text_pdf(pages=1)).json()["id"]
            started = time.monotonic()
            assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "canceled"
            assert wait_job(client, quick, timeout=20)["status"] == "succeeded", running.logs()
            assert time.monotonic() - started < 4  # stop within 2 s, then the small job itself
    finally:
        running.stop()


def test_a_cancel_stops_the_job_canceled_not_the_one_its_message_named(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    """A job message is a turn: the message of one job may claim another (a higher priority).
    Here the process holding `named`'s message runs `urgent`, and the one holding `urgent`'s
    message runs `named`. Canceling `named` must stop `named`, and leave `urgent` alone."""
    env = {**cluster_env, "PDFQ_LEASE_SECONDS": "120"}  # a wrongly stopped job would wait
    running = Cluster(tmp_path / "cancel-turn", env).start(workers=1, concurrency=2)
    try:
        running.wait_for_workers()
        with running.client() as client:
            long, fresh = samples.grid_pdf(pages=80), {"dedupe": "false"}

            def started(job_id: str) -> None:
                wait_job(client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 1)

            busy = [submit(client, long, form=fresh).json()["id"] for _ in range(2)]
            for job_id in busy:
                started(job_id)
            named = submit(client, long, form=fresh).json()["id"]  # its message comes first
            urgent = submit(client, long, form={**fresh, "priority": "5"}).json()["id"]
            client.post(f"/v1/jobs/{busy[0]}/cancel")  # `named`'s message now claims `urgent`
            started(urgent)
            client.post(f"/v1/jobs/{busy[1]}/cancel")  # and `urgent`'s message, `named`
            started(named)
            assert client.post(f"/v1/jobs/{named}/cancel").json()["status"] == "canceled"
            job = wait_job(client, urgent, timeout=90)
            assert (job["status"], job["attempts"]) == ("succeeded", 1), running.logs()
            events = [e["type"] for e in events_of(client, urgent)]
            assert "retried" not in events
    finally:
        running.stop()


def test_rabbitmq_works_as_the_broker(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    from kombu.connection import Connection

    url = "amqp://guest:guest@127.0.0.1:5672//"
    with Connection(url) as conn:  # type: ignore[no-untyped-call]  # start from empty queues
        for name in ("pdfq", "pdfq.chunks"):
            channel = conn.channel()
            try:
                channel.queue_purge(name)
            except Exception:
                pass
            finally:
                channel.close()
    env = {
        **cluster_env,
        "PDFQ_BROKER_URL": url,
        "PDFQ_FANOUT_PAGES": "4",
        "PDFQ_FANOUT_CHUNK_PAGES": "2",
    }
    running = Cluster(tmp_path / "amqp", env).start(workers=2)
    try:
        running.wait_for_workers()
        with running.client() as client:
            small = submit(client, samples.text_pdf(pages=1)).json()["id"]
            large = submit(client, samples.text_pdf(pages=9, words_per_page=30)).json()["id"]
            assert wait_job(client, small, timeout=60)["status"] == "succeeded", running.logs()
            assert wait_job(client, large, timeout=60)["progress"]["pages_done"] == 9
            assert client.get("/readyz").status_code == 200
    finally:
        running.stop()


def test_streams_batches_reuse_and_webhooks_across_hosts(cluster: Cluster) -> None:
    """Events written by Celery workers reach the API's stream through PostgreSQL NOTIFY; a
    repeat is answered from a result copied within S3; the webhook is sent by the API."""
    import json

    from tests.helpers import WebhookReceiver, read_sse

    with cluster.client() as client, WebhookReceiver() as receiver:
        pdf = samples.grid_pdf(pages=8, rows=30, cols=6)
        job_id = submit(client, pdf, webhook_url=receiver.url).json()["id"]
        with client.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"}
        ) as response:
            messages = read_sse(response.iter_lines())
        assert messages[-1][0] == "job", cluster.logs()
        assert messages[-1][2]["status"] == "succeeded"
        pages = sorted(d["number"] for kind, _, d in messages if kind == "page")
        assert pages == list(range(1, 9))

        again = submit(client, pdf).json()
        assert again["status"] == "succeeded"
        assert again["dedupe_of"] == job_id
        original = client.get(f"/v1/jobs/{job_id}/result", params={"format": "markdown"}).text
        copied = client.get(f"/v1/jobs/{again['id']}/result", params={"format": "markdown"})
        assert copied.text == original

        files = [("file", ("t.pdf", samples.report_pdf(title="Batch"), "application/pdf"))]
        files += [("file", ("x.pdf", b"not a pdf at all" * 100, "application/pdf"))]
        batch = client.post("/v1/batches", files=files).json()
        with client.stream(
            "GET", f"/v1/batches/{batch['id']}/events", headers={"Accept": "text/event-stream"}
        ) as response:
            summary = read_sse(response.iter_lines())[-1]
        assert summary[0] == "batch"
        assert summary[2]["counts"]["succeeded"] == 1
        assert summary[2]["counts"]["rejected"] == 1

        deadline = time.monotonic() + 20
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.calls) == 1
        assert json.loads(receiver.calls[0][1])["id"] == job_id


def test_celery_workers_take_jobs_in_the_fair_order(cluster: Cluster) -> None:
    """A job message is a turn for the next job in the store's order: another tenant's single
    upload does not wait behind a batch whose messages were queued first."""
    from pdfq.store import Database
    from pdfq.store import keys as key_repo

    db = Database(cluster.env["PDFQ_DATABASE_URL"])
    tokens = {
        tenant: key_repo.create_key(db, tenant=tenant, scopes=frozenset({"submit", "read"}))[1]
        for tenant in ("big", "small")
    }
    db.dispose()
    time.sleep(2.1)  # the API notices keys within two seconds
    big = {"Authorization": f"Bearer {tokens['big']}"}
    small = {"Authorization": f"Bearer {tokens['small']}"}
    with cluster.client() as client:
        files = [
            (
                "file",
                (f"{n}.pdf", samples.text_pdf(pages=1, words_per_page=20 + n), "application/pdf"),
            )
            for n in range(40)
        ]
        batch = client.post("/v1/batches", files=files, headers=big).json()
        single = submit(client, samples.report_pdf(title="Small"), headers=small).json()["id"]
        client.headers.update(small)
        mine = wait_job(client, single, timeout=60)
        assert mine["status"] == "succeeded", cluster.logs()
        client.headers.update(big)
        theirs = [client.get(f"/v1/jobs/{j['id']}").json() for j in batch["jobs"]]
    waiting, overtook = overtaking(theirs, mine)
    assert waiting >= 20, waiting  # there was a backlog to be starved by
    assert overtook <= 3, overtook  # at most one per worker (and a tie) went first
