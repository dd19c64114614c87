"""The HTTP API with its real worker-process pool: contract, bad inputs, cancel, retry, delete."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from pdfq.api import create_app
from pdfq.config import Settings
from pdfq.errors import StorageError
from tests import samples
from tests.helpers import events_of, submit, wait_job, wait_until


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One running app shared by the tests of this module that need no special settings."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api") / "data",
        workers=2,
        max_file_bytes=2 * 1024 * 1024,
        log_format="json",
        log_level="warning",
        # These tests send the same files again and again and pin down how they are read.
        dedupe=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_document_without_tables_gets_empty_table_files(api: TestClient) -> None:
    job_id = submit(api, samples.text_pdf(pages=1)).json()["id"]
    assert wait_job(api, job_id)["status"] == "succeeded"
    csv_answer = api.get(f"/v1/jobs/{job_id}/tables.csv")
    assert csv_answer.status_code == 200
    assert list(csv.reader(io.StringIO(csv_answer.text))) == [["page", "table", "row"]]
    archive = api.get(f"/v1/jobs/{job_id}/tables.zip")
    assert archive.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == []
    workbook = api.get(f"/v1/jobs/{job_id}/tables.xlsx")
    assert workbook.status_code == 200
    assert workbook.headers["content-disposition"].startswith("attachment;")
    sheets = load_workbook(io.BytesIO(workbook.content))
    assert sheets.sheetnames == ["tables"]
    assert sheets["tables"].max_row == 1
    assert sheets["tables"]["A1"].value is None


def test_submit_answers_202_at_once_and_the_job_succeeds(
    api: TestClient, report_pdf: bytes
) -> None:
    started = time.perf_counter()
    response = submit(api, report_pdf, "report.pdf")
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued"
    assert job["filename"] == "report.pdf"
    assert job["size_bytes"] == len(report_pdf)
    assert len(job["sha256"]) == 64
    assert job["options"] == {
        "ocr": "auto",
        "languages": "eng",
        "pages": None,
        "webhook_url": None,
        "priority": 0,
        "images": True,
        "dedupe": True,
    }
    assert job["links"]["result"] == f"/v1/jobs/{job['id']}/result"
    assert elapsed < 1.0
    done = wait_job(api, job["id"])
    assert done["status"] == "succeeded"
    assert done["progress"] == {"pages_done": 3, "pages_total": 3}
    assert done["attempts"] == 1
    assert done["started_at"]
    assert done["finished_at"]
    assert done["error"] is None


def test_results_in_every_format(api: TestClient, report_pdf: bytes) -> None:
    job_id = submit(api, report_pdf).json()["id"]
    wait_job(api, job_id)
    result = api.get(f"/v1/jobs/{job_id}/result").json()
    assert result["page_count"] == 3
    assert len(result["pages"]) == 3
    assert result["metadata"]["title"] == "Quarterly Report"
    assert result["pages"][0]["tables"][0]["rows"] == samples.TABLE_ROWS
    markdown = api.get(f"/v1/jobs/{job_id}/result", params={"format": "markdown"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    # Named after the upload (doc.pdf), shown inline.
    assert markdown.headers["content-disposition"].startswith('inline; filename="doc.md"')
    assert markdown.text.startswith("# Quarterly Report")
    text = api.get(f"/v1/jobs/{job_id}/result", params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.count("\f") == 2
    assert api.get(f"/v1/jobs/{job_id}/result", params={"format": "docx"}).status_code == 400

    page = api.get(f"/v1/jobs/{job_id}/pages/2").json()
    assert page["number"] == 2
    assert "Section 2" in page["text"]
    assert api.get(f"/v1/jobs/{job_id}/pages/9").status_code == 404

    rows = list(csv.reader(io.StringIO(api.get(f"/v1/jobs/{job_id}/tables.csv").text)))
    assert rows[0] == ["page", "table", "row", "c1", "c2", "c3", "c4"]
    assert rows[1:4] == [["1", "1", str(i + 1), *r] for i, r in enumerate(samples.TABLE_ROWS)]
    tables = api.get(f"/v1/jobs/{job_id}/tables.zip")
    assert tables.headers["content-disposition"].startswith(f'attachment; filename="{job_id}-')
    archive = zipfile.ZipFile(io.BytesIO(tables.content))
    assert archive.namelist() == [f"page-000{n}-table-1.csv" for n in (1, 2, 3)]

    kinds = [e["type"] for e in events_of(api, job_id)]
    kinds = [k for n, k in enumerate(kinds) if k != "pages" or kinds[n - 1] != "pages"]
    assert kinds == ["received", "stored", "started", "scanned", "pages", "extracted", "succeeded"]


def test_pages_option_limits_the_work(api: TestClient, report_pdf: bytes) -> None:
    job_id = submit(api, report_pdf, pages="2").json()["id"]
    job = wait_job(api, job_id)
    assert job["progress"] == {"pages_done": 1, "pages_total": 1}
    result = api.get(f"/v1/jobs/{job_id}/result").json()
    assert [p["number"] for p in result["pages"]] == [2]
    assert result["page_count"] == 3


def test_results_answer_202_while_running_and_409_when_failed(api: TestClient) -> None:
    slow = submit(api, samples.grid_pdf(pages=12)).json()["id"]
    wait_job(api, slow, predicate=lambda j: j["progress"]["pages_done"] >= 1)
    pending = api.get(f"/v1/jobs/{slow}/result")
    assert pending.status_code == 202
    assert pending.json()["status"] == "running"
    assert api.get(f"/v1/jobs/{slow}/tables.csv").status_code == 202
    # A finished page is served while the job still runs.
    assert api.get(f"/v1/jobs/{slow}/pages/1").json()["tables"][0]["rows"][0][0] == "p1r39c0"
    assert api.get(f"/v1/jobs/{slow}/pages/12").status_code == 202
    api.post(f"/v1/jobs/{slow}/cancel")

    failed = submit(api, samples.encrypted_pdf("pw")).json()["id"]
    wait_job(api, failed)
    answer = api.get(f"/v1/jobs/{failed}/result")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "encrypted"
    assert answer.json()["error"]["job"]["status"] == "failed"
    assert api.get("/v1/jobs/00000000-0000-7000-8000-000000000000/result").status_code == 404


def test_list_paginates_newest_first_and_filters(api: TestClient, one_page_pdf: bytes) -> None:
    ids = [submit(api, one_page_pdf).json()["id"] for _ in range(5)]
    for job_id in ids:
        wait_job(api, job_id)
    first = api.get("/v1/jobs", params={"limit": 3}).json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:3]
    second = api.get("/v1/jobs", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in second["items"]][:2] == ids[::-1][3:]
    failed = api.get("/v1/jobs", params={"status": "failed"}).json()["items"]
    assert all(j["status"] == "failed" for j in failed)
    assert api.get("/v1/jobs", params={"status": "bogus"}).status_code == 400
    assert api.get("/v1/jobs", params={"limit": 0}).status_code == 400


def test_idempotency_key_replays_the_first_response(api: TestClient, one_page_pdf: bytes) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = submit(api, one_page_pdf, headers=headers)
    again = submit(api, one_page_pdf, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    listed = [j["id"] for j in api.get("/v1/jobs", params={"limit": 500}).json()["items"]]
    assert listed.count(first.json()["id"]) == 1


def test_concurrent_requests_with_one_idempotency_key_make_one_job(
    api: TestClient, one_page_pdf: bytes
) -> None:
    headers = {"Idempotency-Key": "race-1"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: submit(api, one_page_pdf, headers=headers), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (samples.ELF_BYTES, 415, "not_a_pdf"),
        (samples.HTML_BYTES, 415, "not_a_pdf"),
        (b"%PDF-", 415, "not_a_pdf"),
    ],
    ids=["empty", "elf", "html", "bare-signature"],
)
def test_bad_uploads_are_refused_with_their_code(
    api: TestClient, data: bytes, status: int, code: str
) -> None:
    before = len(api.get("/v1/jobs", params={"limit": 500}).json()["items"])
    response = submit(api, data, "looks-like.pdf")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert len(api.get("/v1/jobs", params={"limit": 500}).json()["items"]) == before


def test_oversized_upload_is_413(api: TestClient) -> None:
    response = submit(api, b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ocr": "sometimes"}, "ocr"),
        ({"pages": "3-1"}, "pages"),
        ({"languages": "../../etc"}, "languages"),
        ({"priority": "high"}, "priority"),
        ({"colour": "red"}, "unknown field(s): colour"),
    ],
)
def test_invalid_options_are_400(
    api: TestClient, one_page_pdf: bytes, fields: dict[str, str], message: str
) -> None:
    response = submit(api, one_page_pdf, form=fields)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_options"
    assert message in response.json()["error"]["message"]


def test_malformed_requests_are_400(api: TestClient) -> None:
    assert (
        api.post(
            "/v1/jobs", content=b"%PDF-1.7", headers={"content-type": "application/pdf"}
        ).status_code
        == 400
    )
    no_file = api.post("/v1/jobs", data={"ocr": "auto"}, files={"other": ("x.txt", b"hi")})
    assert no_file.status_code == 400
    broken = api.post(
        "/v1/jobs",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.7',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (samples.encrypted_pdf("pw"), "encrypted"),
        (b"%PDF-1.4\n", "malformed_pdf"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 8, "malformed_pdf"),
        (samples.page_tree_cycle_pdf(), "malformed_pdf"),
        (samples.many_pages_pdf(20_000), "too_many_pages"),
    ],
    ids=[
        "encrypted-no-password",
        "header-only",
        "garbage-after-header",
        "page-tree-cycle",
        "20000-pages",
    ],
)
def test_bad_documents_fail_with_a_clear_code(api: TestClient, data: bytes, code: str) -> None:
    job = wait_job(api, submit(api, data).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == code
    assert job["error"]["message"]
    assert job["attempts"] == 1  # bad input is not retried


def test_encrypted_with_password(api: TestClient) -> None:
    wrong = wait_job(
        api, submit(api, samples.encrypted_pdf("right"), password="wrong").json()["id"]
    )
    assert wrong["error"] == {
        "code": "encrypted",
        "message": "the PDF is encrypted and the password is wrong",
    }
    job_id = submit(api, samples.encrypted_pdf("right"), password="right").json()["id"]
    assert wait_job(api, job_id)["status"] == "succeeded"
    assert "right" not in json.dumps(events_of(api, job_id))
    assert "password" not in api.get(f"/v1/jobs/{job_id}").json()["options"]


@pytest.mark.slow
def test_deflate_bomb_is_unsafe(api: TestClient, tmp_path: Path) -> None:
    job = wait_job(api, submit(api, samples.deflate_bomb_pdf(1 << 30)).json()["id"])
    assert job["error"]["code"] == "unsafe_pdf"


def test_truncated_and_flipped_files_end_in_a_terminal_state(
    api: TestClient, report_pdf: bytes
) -> None:
    ids = [submit(api, samples.truncated(report_pdf, k)).json()["id"] for k in (0.3, 0.7)]
    ids += [submit(api, samples.flipped(report_pdf, 30, seed)).json()["id"] for seed in range(6)]
    ids = [i for i in ids if i]
    for job_id in ids:
        job = wait_job(api, job_id)
        assert job["status"] in ("succeeded", "failed")
        if job["status"] == "failed":
            assert job["error"]["code"] in ("malformed_pdf", "unsafe_pdf")


def test_cancel_a_queued_job(make_client) -> None:
    client = make_client(workers=1)
    blocker = submit(client, samples.grid_pdf(pages=20)).json()["id"]
    waiting = submit(client, samples.text_pdf(pages=1)).json()["id"]
    wait_job(client, blocker, until={"running"})
    answer = client.post(f"/v1/jobs/{waiting}/cancel")
    assert answer.status_code == 200
    assert answer.json()["status"] == "canceled"
    client.post(f"/v1/jobs/{blocker}/cancel")
    time.sleep(0.5)
    job = client.get(f"/v1/jobs/{waiting}").json()
    assert job["status"] == "canceled"
    assert job["attempts"] == 0
    assert job["started_at"] is None


def test_cancel_a_running_job_frees_its_worker_within_two_seconds(make_client) -> None:
    client = make_client(workers=1)
    queue = client.app.state.services.queue
    slow = submit(client, samples.grid_pdf(pages=40)).json()["id"]
    wait_job(client, slow, predicate=lambda j: j["progress"]["pages_done"] >= 1)
    started = time.monotonic()
    assert client.post(f"/v1/jobs/{slow}/cancel").json()["status"] == "canceled"
    wait_until(lambda: queue.busy_workers == 0, timeout=2.0)
    assert time.monotonic() - started < 2.0
    # The freed slot takes new work at once.
    quick = submit(client, samples.text_pdf(pages=1)).json()["id"]
    assert wait_job(client, quick, timeout=10)["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{slow}/result").status_code == 409
    assert client.post(f"/v1/jobs/{quick}/cancel").status_code == 409


def test_cancel_kills_a_worker_stuck_in_one_page(make_client) -> None:
    """A page can take seconds inside C code, deaf to the cancel; the worker is killed after
    1.5 s. The worker is stopped (SIGSTOP) to make it deaf for sure: a heavy page alone ends
    on a fast machine before the kill and the job stops by itself at the next page."""
    client = make_client(workers=1)
    queue = client.app.state.services.queue
    heavy = samples.grid_pdf(pages=1, rows=120, cols=30)  # ~2.5 s of table finding here
    job_id = submit(client, heavy).json()["id"]
    pid = wait_until(lambda: queue.running_pid(job_id))
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    client.post(f"/v1/jobs/{job_id}/cancel")
    wait_until(lambda: queue.busy_workers == 0, timeout=2.0)
    assert time.monotonic() - started < 2.0
    wait_until(lambda: pid not in queue.worker_pids and len(queue.worker_pids) == 1, timeout=5)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "canceled"


def test_retry_and_delete(api: TestClient, report_pdf: bytes) -> None:
    job_id = submit(api, samples.encrypted_pdf("pw")).json()["id"]
    wait_job(api, job_id)
    retried = api.post(f"/v1/jobs/{job_id}/retry")
    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    assert wait_job(api, job_id)["error"]["code"] == "encrypted"
    kinds = [e["type"] for e in events_of(api, job_id)]
    assert kinds.count("started") == 2
    assert "retried" in kinds

    done = submit(api, report_pdf).json()["id"]
    wait_job(api, done)
    assert api.post(f"/v1/jobs/{done}/retry").status_code == 409
    data_dir = api.app.state.services.settings.data_dir  # type: ignore[attr-defined]
    assert (data_dir / "blobs" / done).exists()
    assert api.delete(f"/v1/jobs/{done}").status_code == 204
    assert api.get(f"/v1/jobs/{done}").status_code == 404
    assert api.delete(f"/v1/jobs/{done}").status_code == 404
    assert not (data_dir / "blobs" / done).exists()


def test_a_delete_storage_refuses_can_be_asked_again(
    api: TestClient, report_pdf: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files go first: when storage refuses, the answer is 503 and the job is still
    there, so the same DELETE works once storage does."""
    job_id = submit(api, report_pdf, form={"dedupe": "false"}).json()["id"]
    wait_job(api, job_id)
    blobs = api.app.state.services.blobs  # type: ignore[attr-defined]
    real = blobs.delete_prefix

    def refuse(prefix: str) -> int:
        raise StorageError(f"S3 kept 3 of 3 files under {prefix}: AccessDenied")

    monkeypatch.setattr(blobs, "delete_prefix", refuse)
    refused = api.delete(f"/v1/jobs/{job_id}")
    assert refused.status_code == 503
    assert api.get(f"/v1/jobs/{job_id}").status_code == 200
    monkeypatch.setattr(blobs, "delete_prefix", real)
    assert api.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404


def test_unknown_routes_and_jobs_are_json_404(api: TestClient) -> None:
    for path in ("/v1/jobs/nope", "/v1/jobs/nope/events", "/v1/nothing"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert api.post("/v1/jobs/nope/cancel").status_code == 404


def test_health_and_openapi(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": "ok", "blobs": "ok", "queue": "ok"}
    schema = api.get("/openapi.json").json()
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert {"/v1/jobs/{job_id}/result", "/v1/jobs/{job_id}/tables.csv"} <= set(schema["paths"])


def test_queue_ceiling_answers_429_with_retry_after(make_client, one_page_pdf: bytes) -> None:
    client = make_client(workers=1, max_queued_jobs=2)
    client.app.state.services.queue.stop(0)  # nothing drains the queue
    answers = []
    for _ in range(3):
        answers.append(submit(client, one_page_pdf))
        time.sleep(1.1)  # the depth reading is cached for a second
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].headers["retry-after"] == "5"
    assert answers[2].json()["error"]["code"] == "queue_full"
