"""Scanned documents through the whole service: `pdfq serve` with its worker pool, and the
distributed shape with Celery workers, reading pages with OCR in parallel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import scans
from tests.helpers import Cluster, LiveServer, events_of, kill_while_running, submit, wait_job

pytestmark = pytest.mark.slow

CER_TARGET = {300: 0.02, 150: 0.04}


@pytest.fixture(scope="module")
def ten_pages() -> scans.ScannedDoc:
    """The acceptance document: ten scanned pages, five at 300 dpi and five at 150 dpi."""
    return scans.compose([300, 150] * 5, seed=200)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("ocr") / "data").start()  # default settings
    yield live
    live.kill_group()


def test_a_scanned_ten_page_pdf_is_read_by_both_workers_within_the_error_targets(
    server: LiveServer, ten_pages: scans.ScannedDoc
) -> None:
    with server.client() as client:
        job_id = submit(client, ten_pages.pdf, "contract-scan.pdf").json()["id"]
        seen: set[int] = set()
        deadline = time.monotonic() + 120
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
            seen.add(job["progress"]["pages_done"])
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded", server.log()[-3000:]
        assert job["progress"] == {"pages_done": 10, "pages_total": 10}
        assert seen & set(range(1, 10)), f"no page progress was visible: {sorted(seen)}"

        result = client.get(f"/v1/jobs/{job_id}/result").json()
        assert [p["number"] for p in result["pages"]] == list(range(1, 11))
        for page, truth, dpi in zip(result["pages"], ten_pages.truths, ten_pages.dpis, strict=True):
            assert dpi is not None
            assert (page["method"], page["ocr_provider"]) == ("ocr", "tesseract")
            assert page["ocr_confidence"] > 0.8
            error = scans.cer(truth, page["text"])
            assert error <= CER_TARGET[dpi], f"page {page['number']} ({dpi} dpi): CER {error:.2%}"
        assert client.get(f"/v1/jobs/{job_id}/pages/7").json()["method"] == "ocr"
        text = client.get(f"/v1/jobs/{job_id}/result", params={"format": "text"}).text
        assert scans.cer("\n".join(ten_pages.truths), text) <= 0.03
        markdown = client.get(f"/v1/jobs/{job_id}/result", params={"format": "markdown"}).text
        assert markdown.lstrip("#").lstrip().startswith("Agreement No.")

        events = events_of(client, job_id)
        read = [e["data"] for e in events if e["type"] == "page_ocr"]
        assert sorted(e["page"] for e in read) == list(range(1, 11))
        assert {e["reason"] for e in read} == {"no text layer"}
        assert len({e["worker"] for e in read}) == 2  # both worker processes read pages


def test_a_language_without_its_pack_fails_ocr_failed_naming_the_package(
    server: LiveServer, ten_pages: scans.ScannedDoc
) -> None:
    with server.client() as client:
        response = submit(client, ten_pages.pdf, languages="eng+jpn", pages="1")
        job = wait_job(client, response.json()["id"], timeout=60)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "ocr_failed"
        assert "tesseract-ocr-jpn" in job["error"]["message"]
        assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 409


def test_a_worker_killed_mid_ocr_costs_only_its_pages(make_client) -> None:
    client = make_client(workers=2, ocr_chunk_pages=1)
    queue = client.app.state.services.queue
    doc = scans.compose([200] * 6, seed=300)
    job_id = submit(client, doc.pdf).json()["id"]
    wait_job(client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 1, timeout=60)
    kill_while_running(queue, job_id)

    job = wait_job(client, job_id, timeout=120)
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1  # one chunk was retried, not the job
    assert job["progress"] == {"pages_done": 6, "pages_total": 6}
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert [p["number"] for p in result["pages"]] == [1, 2, 3, 4, 5, 6]
    for page, truth in zip(result["pages"], doc.truths, strict=True):
        assert page["method"] == "ocr"
        assert scans.cer(truth, page["text"]) <= 0.02
    kinds = [e["type"] for e in events_of(client, job_id)]
    assert kinds.count("chunk_retried") == 1
    assert kinds.count("succeeded") == 1


@pytest.mark.services
def test_celery_workers_share_the_pages_of_a_scanned_document(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    cluster = Cluster(tmp_path / "ocr", cluster_env).start(workers=2)
    try:
        cluster.wait_for_workers()
        doc = scans.mixed_pdf("tssss", dpi=200, seed=400)
        with cluster.client() as client:
            job_id = submit(client, doc.pdf).json()["id"]
            job = wait_job(client, job_id, timeout=120)
            assert job["status"] == "succeeded", cluster.logs()
            result = client.get(f"/v1/jobs/{job_id}/result").json()
            assert [p["method"] for p in result["pages"]] == ["text"] + ["ocr"] * 4
            for page, truth in zip(result["pages"], doc.truths, strict=True):
                assert scans.cer(truth, page["text"]) <= 0.02
            read = [e["data"] for e in events_of(client, job_id) if e["type"] == "page_ocr"]
            assert len({e["worker"] for e in read}) == 2
    finally:
        cluster.stop()
