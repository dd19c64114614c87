"""Faults in the local worker pool: killed workers, poison jobs, hangs, memory, recycling.

Each test runs the real app with real worker processes and hurts them for real (SIGKILL,
a page that takes seconds, a stream that inflates to 600 MB); other jobs must not notice.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests import samples
from tests.helpers import events_of, kill_while_running, submit, wait_job, wait_until

pytestmark = pytest.mark.slow


def test_sigkill_of_a_worker_touches_only_its_job(make_client, report_pdf: bytes) -> None:
    client = make_client(workers=2)
    queue = client.app.state.services.queue
    victim = submit(client, samples.grid_pdf(pages=30)).json()["id"]
    wait_job(client, victim, predicate=lambda j: j["progress"]["pages_done"] >= 1)
    others = [submit(client, report_pdf).json()["id"] for _ in range(4)]
    pid = queue.running_pid(victim)
    os.kill(pid, signal.SIGKILL)

    for job_id in others:
        assert wait_job(client, job_id)["status"] == "succeeded"
    job = wait_job(client, victim, timeout=60)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 2
    retried = [e for e in events_of(client, victim) if e["type"] == "retried"]
    assert len(retried) == 1
    assert "killed by SIGKILL" in retried[0]["data"]["reason"]
    wait_until(lambda: len(queue.worker_pids) == 2 and pid not in queue.worker_pids)
    assert client.get("/readyz").status_code == 200


def test_a_job_that_keeps_killing_its_worker_fails_worker_lost(
    make_client, one_page_pdf: bytes
) -> None:
    client = make_client(workers=1, max_attempts=3)
    queue = client.app.state.services.queue
    poison = submit(client, samples.grid_pdf(pages=30)).json()["id"]
    healthy = submit(client, one_page_pdf).json()["id"]
    killed: set[int] = set()
    for attempt in (1, 2, 3):
        job = wait_job(
            client,
            poison,
            predicate=lambda j, a=attempt: j["attempts"] == a and j["status"] == "running",
        )
        pid = wait_until(lambda: queue.running_pid(poison))
        assert pid not in killed
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    job = wait_job(client, poison)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "worker_lost"
    assert "killed by SIGKILL" in job["error"]["message"]
    assert "gave up after 3 attempts" in job["error"]["message"]
    assert wait_job(client, healthy)["status"] == "succeeded"
    after = submit(client, one_page_pdf).json()["id"]
    assert wait_job(client, after)["status"] == "succeeded"


def test_a_hung_page_hits_the_hard_limit_then_fails_timeout(
    make_client, one_page_pdf: bytes
) -> None:
    client = make_client(
        workers=1, max_attempts=2, job_time_limit_seconds=0.4, job_time_limit_grace_seconds=0.4
    )
    # One page that takes seconds (OCR of a dense page) against a limit of 0.8 s.
    dense = samples.text_pdf(pages=1, words_per_page=1500)
    hung = submit(client, dense, ocr="always").json()["id"]
    job = wait_job(client, hung, timeout=30)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "timeout"
    assert "hard time limit" in job["error"]["message"]
    assert job["attempts"] == 2
    assert wait_job(client, submit(client, one_page_pdf).json()["id"])["status"] == "succeeded"


def test_the_soft_limit_stops_a_long_job_cleanly(make_client) -> None:
    client = make_client(workers=1, job_time_limit_seconds=1.0, job_time_limit_grace_seconds=30)
    job = wait_job(client, submit(client, samples.grid_pdf(pages=40)).json()["id"], timeout=30)
    assert job["error"]["code"] == "timeout"
    assert job["attempts"] == 1
    assert 0 < job["progress"]["pages_done"] < 40


def test_a_worker_over_its_memory_cap_is_killed(make_client, one_page_pdf: bytes) -> None:
    client = make_client(
        workers=1, max_attempts=2, worker_max_memory_mb=400, max_stream_bytes=1 << 30
    )
    hungry = samples.stream_pdf(b"BT /F1 12 Tf 72 700 Td (hi) Tj ET\n" + b" " * (600 << 20))
    job = wait_job(client, submit(client, hungry).json()["id"], timeout=60)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "worker_lost"
    assert "memory cap (400 MiB)" in job["error"]["message"]
    assert wait_job(client, submit(client, one_page_pdf).json()["id"])["status"] == "succeeded"


def test_workers_are_replaced_after_n_jobs(make_client, one_page_pdf: bytes) -> None:
    client = make_client(workers=1, worker_max_jobs=2)
    queue = client.app.state.services.queue
    pids = []
    for _ in range(6):
        job_id = submit(client, one_page_pdf, dedupe="false").json()["id"]
        assert wait_job(client, job_id)["status"] == "succeeded"
        wait_until(lambda: queue.worker_pids)
        pids.append(queue.worker_pids[0])
        time.sleep(0.05)
    wait_until(lambda: len(queue.worker_pids) == 1)
    assert len(set(pids)) >= 3


def test_a_large_document_fans_out_over_the_pool(make_client, tmp_path) -> None:
    from pdfq.extract.document import extract_document

    client = make_client(workers=2, fanout_pages=10, fanout_chunk_pages=5)
    data = samples.report_pdf(pages=40)
    job_id = submit(client, data).json()["id"]
    job = wait_job(client, job_id, timeout=60)
    assert job["status"] == "succeeded"
    assert job["progress"] == {"pages_done": 40, "pages_total": 40}
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    (tmp_path / "same.pdf").write_bytes(data)
    assert result["text"] == extract_document(tmp_path / "same.pdf").text
    assert client.get(f"/v1/jobs/{job_id}/pages/23").json()["number"] == 23
    kinds = [e["type"] for e in events_of(client, job_id)]
    assert kinds.count("fanned_out") == 1
    assert kinds.count("merged") == 1


def test_a_killed_chunk_worker_retries_only_that_chunk(make_client) -> None:
    client = make_client(workers=2, fanout_pages=10, fanout_chunk_pages=10)
    queue = client.app.state.services.queue
    job_id = submit(client, samples.grid_pdf(pages=60)).json()["id"]
    wait_job(client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 3, timeout=60)
    kill_while_running(queue, job_id)
    job = wait_job(client, job_id, timeout=120)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1  # the job was not restarted, one chunk was
    assert job["progress"]["pages_done"] == 60
    retried = [e for e in events_of(client, job_id) if e["type"] == "chunk_retried"]
    assert len(retried) == 1
    assert "killed by SIGKILL" in retried[0]["data"]["reason"]
