"""The client commands of `pdfq` as a user runs them: real processes against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import samples
from tests.helpers import LiveServer, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = LiveServer(tmp_path_factory.mktemp("cli") / "data").start()
    yield running
    running.stop()


def pdfq(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PDFQ_URL": url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pdfq.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_submit_wait_out_writes_results_and_fails_when_a_job_fails(
    server: LiveServer, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    samples.write(docs, "report.pdf", samples.report_pdf(pages=3))
    samples.write(docs, "grid.pdf", samples.grid_pdf(pages=12))
    samples.write(docs, "broken.pdf", samples.truncated(samples.report_pdf(), 0.1))
    (docs / "notes.txt").write_text("not a pdf, not picked from a folder")

    run = pdfq(server.url, "submit", "docs", "--wait", "--out", "out", "--no-dedupe", cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # one job failed
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Quarterly Report")
    assert "p12r0c0" in (tmp_path / "out" / "grid.md").read_text()
    assert not (tmp_path / "out" / "broken.md").exists()
    assert "12/12" in run.stdout  # the progress bar of the grid, then its summary row
    assert "malformed_pdf" in run.stdout
    assert run.stdout.count("succeeded") >= 2


def test_submit_json_succeeds_with_exit_zero_and_refusals_fail(
    server: LiveServer, tmp_path: Path
) -> None:
    samples.write(tmp_path, "a.pdf", samples.report_pdf(pages=2))
    run = pdfq(
        server.url, "submit", "a.pdf", "--out", "out", "-f", "json", "--pages", "2", cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "out" / "a.json").read_text())
    assert [p["number"] for p in result["pages"]] == [2]

    (tmp_path / "fake.pdf").write_bytes(b"GIF89a" * 400)
    run = pdfq(server.url, "submit", "fake.pdf", cwd=tmp_path)
    assert run.returncode == 1
    assert "not_a_pdf" in run.stdout
    run = pdfq(server.url, "submit", "missing.pdf", cwd=tmp_path)
    assert run.returncode == 2
    assert "no such file" in run.stderr


def test_status_result_jobs_and_watch(server: LiveServer, tmp_path: Path) -> None:
    samples.write(tmp_path, "w.pdf", samples.grid_pdf(pages=8))
    run = pdfq(server.url, "submit", "w.pdf", "--no-dedupe", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    job_id = next(w for w in run.stdout.split() if w.count("-") == 4 and len(w) == 36)

    watched = pdfq(server.url, "watch", job_id)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    for step in ("started", "scanned", "succeeded", "8/8"):
        assert step in watched.stdout

    status = pdfq(server.url, "status", job_id, "--json")
    assert json.loads(status.stdout)["status"] == "succeeded"
    assert "succeeded" in pdfq(server.url, "status", job_id).stdout
    text = pdfq(server.url, "result", job_id, "--format", "txt")
    assert text.returncode == 0
    assert text.stdout.startswith("p1r39c0")  # reading order: the top row first
    listed = pdfq(server.url, "jobs", "--status", "succeeded", "--limit", "50")
    assert job_id in listed.stdout

    missing = pdfq(server.url, "status", "no-such-job")
    assert missing.returncode == 1
    assert "not_found" in missing.stderr
    bad_format = pdfq(server.url, "result", job_id, "--format", "docx")
    assert bad_format.returncode == 2


def test_an_unreachable_server_exits_3(tmp_path: Path) -> None:
    run = pdfq(f"http://127.0.0.1:{free_port()}", "jobs")
    assert run.returncode == 3
    assert "cannot reach the pdfq server" in run.stderr


def test_extract_reads_files_in_process_without_a_server(tmp_path: Path) -> None:
    samples.write(tmp_path, "report.pdf", samples.report_pdf())
    one = pdfq("http://127.0.0.1:9", "extract", "report.pdf", cwd=tmp_path)  # no server there
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("# Quarterly Report")
    assert "| Region | Q1 | Q2 | Q3 |" in one.stdout

    (tmp_path / "fake.pdf").write_bytes(b"GIF89a" * 400)
    many = pdfq("", "extract", ".", "-o", "out", "-f", "json", cwd=tmp_path)
    assert many.returncode == 1  # one of the two files is not a document
    assert "fake.pdf: unsupported_type" in many.stderr
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["filename"] == "report.pdf"
    assert written["pages"][0]["tables"][0]["rows"] == samples.TABLE_ROWS
    assert not (tmp_path / "out" / "fake.json").exists()
