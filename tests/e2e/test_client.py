"""The Python SDK (pdfq.Client, pdfq.AsyncClient) against a real `pdfq serve` process."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import pdfq
from pdfq.domain import DocumentResult, JobStatus
from pdfq.errors import Conflict, EmptyFile, MalformedPdf, NotAPdf, NotFound
from tests import samples
from tests.helpers import LiveServer

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = LiveServer(tmp_path_factory.mktemp("sdk") / "data").start()
    yield running
    running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[pdfq.Client]:
    with pdfq.Client(server.url) as sdk:
        yield sdk


def test_submit_wait_and_read_every_form_of_the_result(client: pdfq.Client, tmp_path) -> None:
    path = samples.write(tmp_path, "report.pdf", samples.report_pdf(pages=3))
    job = client.submit(path, pages="1-2", dedupe=False)
    assert job.filename == "report.pdf"
    assert job.options.pages == "1-2"
    assert job.options.dedupe is False
    done = client.wait(job.id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.progress.pages_done == 2

    result = client.result(job.id)
    assert isinstance(result, DocumentResult)
    assert [p.number for p in result.pages] == [1, 2]
    assert result.pages[0].tables[0].rows == samples.TABLE_ROWS
    assert client.result(job.id, "markdown").startswith("# Quarterly Report")
    assert "Quarterly Report" in client.result(job.id, "text")
    assert client.page(job.id, 2).number == 2
    assert "Region" in client.tables_csv(job.id)
    assert client.file(job.id, "tables.xlsx").startswith(b"PK")
    assert client.file(job.id, "layout.pdf").startswith(b"%PDF")
    kinds = [e.type for e in client.history(job.id)]
    assert kinds[0] == "received"
    assert kinds[-1] == "succeeded"

    with path.open("rb") as handle:  # a file object, left open for its owner
        from_file = client.submit(handle, filename="again.pdf", dedupe=False)
        assert not handle.closed
    from_bytes = client.submit(path.read_bytes(), filename="bytes.pdf", dedupe=False)
    assert client.wait(from_file.id).status == client.wait(from_bytes.id).status == "succeeded"
    assert from_bytes.filename == "bytes.pdf"


def test_pages_arrive_as_they_finish_and_the_stream_ends_with_the_job(
    client: pdfq.Client,
) -> None:
    job = client.submit(samples.grid_pdf(pages=6, rows=30, cols=6), dedupe=False)
    pages = list(client.iter_pages(job.id))
    assert sorted(p.number for p in pages) == list(range(1, 7))
    assert all(p.tables for p in pages)
    messages = list(client.events(job.id))
    assert messages[-1].event == "job"
    assert messages[-1].data["status"] == "succeeded"
    resumed = list(client.events(job.id, after=messages[-2].id or 0))
    assert [m.event for m in resumed] == ["job"]


def test_errors_are_the_servers_own_types(client: pdfq.Client) -> None:
    with pytest.raises(NotAPdf) as refused:
        client.submit(b"<html>hello</html>" * 100, filename="page.pdf")
    assert refused.value.details["status_code"] == 415
    with pytest.raises(EmptyFile):
        client.submit(b"")
    with pytest.raises(NotFound):
        client.get("no-such-job")

    broken = client.submit(samples.truncated(samples.report_pdf(), 0.1))
    assert client.wait(broken.id).status == "failed"
    with pytest.raises(MalformedPdf) as failed:
        client.result(broken.id)
    assert failed.value.details["job"].id == broken.id
    with pytest.raises(Conflict):
        client.cancel(broken.id)  # it has already failed
    assert client.retry(broken.id).status == "queued"
    assert client.wait(broken.id).attempts == 2  # a retry goes on counting


def test_batches_listing_and_job_actions(client: pdfq.Client) -> None:
    batch = client.batch(
        [samples.report_pdf(title=f"Doc {n}") for n in range(3)] + [b"GIF89a" + b"\0" * 2000],
        ocr="never",
    )
    assert len(batch.jobs) == 3
    assert [r.error.code for r in batch.rejected] == ["not_a_pdf"]
    for job in batch.jobs:
        assert client.wait(job.id).status == "succeeded"
    assert client.get_batch(batch.id).counts["succeeded"] == 3
    listed = list(client.jobs(batch=batch.id, page_size=2))  # two pages of answers
    assert {j.id for j in listed} == {j.id for j in batch.jobs}

    first = batch.jobs[0].id
    client.delete(first)
    with pytest.raises(NotFound):
        client.get(first)


def test_wait_gives_up_after_its_timeout(client: pdfq.Client) -> None:
    job = client.submit(samples.grid_pdf(pages=60), dedupe=False)
    with pytest.raises(TimeoutError):
        client.wait(job.id, timeout=0.3)
    assert client.cancel(job.id).status == "canceled"


async def test_the_async_client_does_the_same(server: LiveServer, tmp_path) -> None:
    path = samples.write(tmp_path, "a.pdf", samples.report_pdf(pages=2))
    async with pdfq.AsyncClient(server.url) as client:
        job = await client.submit(path, dedupe=False)
        pages = [p.number async for p in client.iter_pages(job.id)]
        assert sorted(pages) == [1, 2]
        assert (await client.wait(job.id)).status == "succeeded"
        assert (await client.result(job.id, "markdown")).startswith("# Quarterly Report")
        assert (await client.result(job.id)).page_count == 2
        batch = await client.batch([path, samples.report_pdf(title="Other")])
        assert len(batch.jobs) == 2
        assert batch.jobs[0].dedupe_of == job.id  # the same file again: answered at once
        assert [j.id async for j in client.jobs(batch=batch.id)] == [
            j.id for j in reversed(batch.jobs)
        ]
        with pytest.raises(NotAPdf):
            await client.submit(b"x" * 2000)


def test_the_readme_example_runs(server: LiveServer, tmp_path, capsys) -> None:
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "pdfq.Client" in b)
    assert len(example.strip().splitlines()) <= 6
    samples.write(tmp_path, "report.pdf", samples.report_pdf(pages=2))
    code = example.replace("http://127.0.0.1:8000", server.url)
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(previous)
    assert "# Quarterly Report" in capsys.readouterr().out


def test_a_server_without_a_stream_is_polled() -> None:
    """wait() falls back to long polls when the events answer is not a stream."""
    import httpx

    job = samples_job_json()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path + ("?wait" if "wait" in request.url.params else ""))
        if request.url.path.endswith("/events"):
            return httpx.Response(200, json=[])  # e.g. a proxy that drops the Accept header
        status = "succeeded" if len(calls) > 2 else "running"
        return httpx.Response(200, json={**job, "status": status})

    with pdfq.Client(transport=httpx.MockTransport(handler)) as client:
        assert client.wait("j1").status == "succeeded"
    assert calls == ["/v1/jobs/j1/events", "/v1/jobs/j1?wait", "/v1/jobs/j1?wait"]


def samples_job_json() -> dict[str, object]:
    return {
        "id": "j1",
        "status": "running",
        "filename": "a.pdf",
        "size_bytes": 1,
        "sha256": "0" * 64,
        "options": {},
        "progress": {"pages_done": 0, "pages_total": None},
        "created_at": "2026-01-01T00:00:00Z",
    }


def test_queue_full_carries_retry_after() -> None:
    import httpx

    from pdfq.errors import QueueFull

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "queue_full", "message": "busy"}}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    with (
        pdfq.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(QueueFull) as full,
    ):
        client.submit(io.BytesIO(b"%PDF-1.4"))
    assert full.value.retry_after == 7
    assert full.value.message == "busy"
