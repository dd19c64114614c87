"""What an operator relies on: /metrics with the right values, request ids and access logs,
the audit trail, retention answering 410, and graceful handling of a Celery worker's SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pdfq.store import keys as key_repo
from tests import samples, scans
from tests.helpers import (
    Cluster,
    LiveServer,
    WebhookReceiver,
    events_of,
    submit,
    wait_job,
    wait_until,
)


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict[Any, float], name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(make_client) -> None:
    with WebhookReceiver() as receiver:
        client = make_client(webhook_allow_private=True, webhook_backoff_seconds=0.05)
        before = scrape(client)
        good = [
            submit(client, samples.report_pdf(pages=2, title=f"M{n}")).json()["id"]
            for n in range(3)
        ]
        bad = submit(client, samples.truncated(samples.report_pdf(), 0.1)).json()["id"]
        scanned = submit(
            client, scans.scanned_pdf(1, dpi=150).pdf, webhook_url=receiver.url
        ).json()["id"]
        for job_id in [*good, bad, scanned]:
            wait_job(client, job_id, timeout=90)
        wait_until(lambda: receiver.calls)
        wait_until(
            lambda: any(e["type"] == "webhook_delivered" for e in events_of(client, scanned))
        )
        after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pdfq_jobs_submitted_total") == 5
    assert delta("pdfq_jobs_finished_total", status="succeeded", code="") == 4
    assert delta("pdfq_jobs_finished_total", status="failed", code="malformed_pdf") == 1
    assert delta("pdfq_pages_processed_total", method="text", provider="none") == 6
    assert delta("pdfq_pages_processed_total", method="ocr", provider="tesseract") == 1
    assert delta("pdfq_ocr_page_seconds_count", provider="tesseract") == 1
    assert delta("pdfq_ocr_page_seconds_sum", provider="tesseract") > 0.1
    assert delta("pdfq_job_queue_wait_seconds_count") == 5
    assert delta("pdfq_job_processing_seconds_count") == 5
    assert delta("pdfq_job_processing_seconds_sum") > 0
    assert delta("pdfq_webhook_deliveries_total", outcome="delivered") == 1
    assert (
        delta(
            "pdfq_http_request_duration_seconds_count",
            method="POST",
            route="/v1/jobs",
            status="202",
        )
        == 5
    )
    assert value(after, "pdfq_queue_depth") == 0
    assert value(after, "pdfq_jobs_running") == 0
    assert (
        value(after, "pdfq_workers", state="idle") + value(after, "pdfq_workers", state="busy") == 2
    )
    assert value(after, "pdfq_data_dir_bytes") > 0


def test_queue_gauges_while_work_waits(make_client) -> None:
    client = make_client(workers=1)
    long_job = submit(client, samples.grid_pdf(pages=40)).json()["id"]
    wait_job(client, long_job, until={"running"})
    waiting = [submit(client, samples.report_pdf(title=f"W{n}")).json()["id"] for n in range(3)]
    time.sleep(1.1)
    values = scrape(client)
    assert value(values, "pdfq_queue_depth") == 3
    assert value(values, "pdfq_queue_oldest_seconds") >= 1.0
    assert value(values, "pdfq_jobs_running") == 1
    assert value(values, "pdfq_workers", state="busy") == 1
    for job_id in [long_job, *waiting]:
        client.post(f"/v1/jobs/{job_id}/cancel")


def test_request_ids_and_the_access_log(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", PDFQ_ACCESS_LOG="true").start()
    try:
        with server.client() as client:
            given = client.get("/v1/jobs", headers={"X-Request-ID": "trace-me-42"})
            assert given.headers["x-request-id"] == "trace-me-42"
            made = client.get("/v1/jobs/unknown")
            made_id = made.headers["x-request-id"]
            assert len(made_id) == 32
            bad = client.get("/healthz", headers={"X-Request-ID": "no spaces\tor tabs"})
            assert bad.headers["x-request-id"] != "no spaces\tor tabs"
        log = server.log()
    finally:
        server.stop()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    mine = next(line for line in access if line.get("request_id") == "trace-me-42")
    assert (mine["method"], mine["path"], mine["status"], mine["tenant"]) == (
        "GET",
        "/v1/jobs",
        200,
        "default",
    )
    assert any(line["request_id"] == made_id and line["status"] == 404 for line in access)
    assert "ms" in mine


def test_the_audit_trail_is_admin_only_and_keeps_deleted_jobs(make_client) -> None:
    client = make_client()
    db = client.app.state.services.db
    _, admin = key_repo.create_key(db, tenant="acme", scopes=frozenset({"admin"}))
    _, reader = key_repo.create_key(db, tenant="acme", scopes=frozenset({"read", "submit"}))
    _, other = key_repo.create_key(db, tenant="other", scopes=frozenset({"admin"}))
    time.sleep(2.1)
    admin_h, reader_h = {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {reader}"}
    job_id = submit(client, samples.report_pdf(), headers=reader_h).json()["id"]
    client.headers.update(reader_h)
    wait_job(client, job_id)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert client.get("/v1/events", headers=reader_h).status_code == 403

    trail = client.get("/v1/events", headers=admin_h).json()
    kinds = [e["type"] for e in trail["items"] if e["job_id"] == job_id]
    assert kinds[0] == "received"
    assert "succeeded" in kinds
    assert kinds[-1] == "deleted"
    assert client.get("/v1/events", headers={"Authorization": f"Bearer {other}"}).json() == {
        "items": [],
        "next_after": None,
    }
    only = client.get("/v1/events", params={"type": ["deleted", "received"]}, headers=admin_h)
    assert {e["type"] for e in only.json()["items"]} == {"deleted", "received"}
    first = trail["items"][0]["at"]
    later = client.get("/v1/events", params={"since": "2999-01-01T00:00:00Z"}, headers=admin_h)
    assert later.json()["items"] == []
    ranged = client.get(
        "/v1/events", params={"since": first, "until": "2999-01-01T00:00:00"}, headers=admin_h
    )
    assert len(ranged.json()["items"]) == len(trail["items"])
    paged = client.get("/v1/events", params={"limit": 2}, headers=admin_h).json()
    assert len(paged["items"]) == 2
    rest = client.get(
        "/v1/events", params={"after": paged["next_after"], "limit": 1000}, headers=admin_h
    ).json()
    assert [e["id"] for e in paged["items"] + rest["items"]] == [e["id"] for e in trail["items"]]


def test_expired_jobs_answer_410_and_cleanup_can_dry_run(make_client, tmp_path: Path) -> None:
    from pdfq.store.retention import Retention, cleanup

    client = make_client(dedupe=False)
    services = client.app.state.services
    done = submit(client, samples.report_pdf(pages=2)).json()["id"]
    failed = submit(client, samples.truncated(samples.report_pdf(), 0.1)).json()["id"]
    for job_id in (done, failed):
        wait_job(client, job_id)
    assert client.get(f"/v1/jobs/{done}").json()["expired_at"] is None

    retention = Retention(inputs=timedelta(hours=1), results=timedelta(days=7))
    from pdfq.store.jobs import utcnow

    later = utcnow() + timedelta(hours=2)
    report = cleanup(services.db, services.blobs, retention, now=later, dry_run=True)
    assert set(report.inputs) == {done, failed}
    assert report.results == []
    assert client.get(f"/v1/jobs/{done}/result").status_code == 200  # a dry run changes nothing

    cleanup(services.db, services.blobs, retention, now=later)
    assert not services.blobs.exists(f"{failed}/input")
    retried = client.post(f"/v1/jobs/{failed}/retry")
    assert retried.status_code == 410
    assert retried.json()["error"]["code"] == "expired"
    assert "input file was removed" in retried.json()["error"]["message"]
    assert client.get(f"/v1/jobs/{done}/result").status_code == 200  # results are kept longer

    cleanup(services.db, services.blobs, retention, now=utcnow() + timedelta(days=8))
    job = client.get(f"/v1/jobs/{done}").json()
    assert job["status"] == "succeeded"
    assert job["expired_at"] is not None
    for suffix in ("result", "result?format=markdown", "pages/1", "tables.csv", "tables.zip"):
        answer = client.get(f"/v1/jobs/{done}/{suffix}")
        assert answer.status_code == 410, suffix
        assert "removed on" in answer.json()["error"]["message"]
    assert not any(services.blobs.root.glob(f"{done}/*"))


@pytest.mark.slow
def test_pdfq_cleanup_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = LiveServer(data).start()
    try:
        with server.client() as client:
            job_id = submit(client, samples.report_pdf()).json()["id"]
            wait_job(client, job_id)
    finally:
        server.stop()
    env = {"PDFQ_DATA_DIR": str(data), "PDFQ_RETENTION_RESULTS_DAYS": "0.00001", "COLUMNS": "200"}
    time.sleep(1.0)  # 0.00001 days is under a second

    def cleanup(*args: str, retention: bool = True) -> subprocess.CompletedProcess[str]:
        settings = env if retention else {"PDFQ_DATA_DIR": str(data)}
        return subprocess.run(
            [sys.executable, "-m", "pdfq.cli", "cleanup", *args],
            env={**os.environ, **settings},
            capture_output=True,
            text=True,
            timeout=60,
        )

    dry = cleanup("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would be removed" in dry.stdout
    assert job_id in dry.stdout
    assert (data / "blobs" / job_id / "input").exists()
    real = cleanup()
    assert real.returncode == 0, real.stderr
    assert "were removed" in real.stdout
    assert not (data / "blobs" / job_id).exists()
    assert "nothing expires" in cleanup(retention=False).stdout


@pytest.mark.slow
@pytest.mark.services
def test_sigterm_on_a_celery_worker_loses_nothing(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    cluster = Cluster(tmp_path / "cluster", cluster_env).start(workers=1)
    try:
        cluster.wait_for_workers()
        with cluster.client() as client:
            job_id = submit(client, samples.grid_pdf(pages=60)).json()["id"]
            wait_job(client, job_id, until={"running"}, timeout=30)
            worker = cluster.workers[0]
            worker.send_signal(signal.SIGTERM)  # warm shutdown: the running task may finish
            cluster.add_worker()
            job = wait_job(client, job_id, timeout=120)
            assert job["status"] == "succeeded", cluster.logs()
            succeeded = [e for e in events_of(client, job_id) if e["type"] == "succeeded"]
            assert len(succeeded) == 1
            assert worker.wait(60) is not None  # the first worker did stop
    finally:
        cluster.stop()


@pytest.mark.slow
@pytest.mark.services
def test_worker_check_reports_its_own_worker(tmp_path: Path, cluster_env: dict[str, str]) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pdfq.cli", "worker", "--check"],
            env={**os.environ, **cluster_env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    cluster = Cluster(tmp_path / "cluster", cluster_env).start(workers=1)
    try:
        cluster.wait_for_workers()
        wait_until(lambda: check().returncode == 0, timeout=30, interval=1)
        assert "ok: pdfq-" in check().stdout
        cluster.kill_worker(cluster.workers[0])
        failing = check()
        assert failing.returncode == 1
        assert "no pdfq worker" in failing.stderr
        with cluster.client() as client:
            wait_until(lambda: client.get("/readyz").status_code == 503, timeout=30, interval=1)
            assert "no pdfq worker" in client.get("/readyz").json()["checks"]["queue"]
    finally:
        cluster.stop()
