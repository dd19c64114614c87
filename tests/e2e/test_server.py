"""`pdfq serve` as a real process: raw HTTP behaviour, crashes, restarts, shutdown, memory."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import samples
from tests.helpers import LiveServer, lease_owner_pid, submit, wait_job, wait_until

pytestmark = pytest.mark.slow

BOUNDARY = b"pdfq-test-boundary"


def multipart_head(filename: str = "big.pdf") -> bytes:
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename.encode() + b'"\r\n'
        b"Content-Type: application/pdf\r\n\r\n"
    )


def multipart_tail() -> bytes:
    return b"\r\n--" + BOUNDARY + b"--\r\n"


def whole_file_then_next_boundary(filename: str) -> bytes:
    """A one-page PDF part, and the boundary after it: the server can store that file before
    it reads a byte of the next part."""
    return multipart_head(filename) + samples.text_pdf(pages=1) + b"\r\n--" + BOUNDARY + b"\r\n"


def next_part_start(filename: str) -> bytes:
    """The next file part's headers and first bytes (its boundary line was sent already)."""
    return multipart_head(filename)[len(b"--" + BOUNDARY + b"\r\n") :] + b"%PDF-1.7\n"


def request_head(port: int, length: int | None, path: bytes = b"/v1/jobs") -> bytes:
    lines = [
        b"POST " + path + b" HTTP/1.1",
        b"Host: 127.0.0.1:%d" % port,
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY,
    ]
    lines.append(
        b"Content-Length: %d" % length if length is not None else b"Transfer-Encoding: chunked"
    )
    return b"\r\n".join(lines) + b"\r\n\r\n"


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data", PDFQ_MAX_FILE_BYTES=str(8 * 1024 * 1024)).start()
    yield live
    live.kill_group()


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_curl_gets_202_in_milliseconds(server: LiveServer, tmp_path: Path) -> None:
    pdf = samples.write(tmp_path, "report.pdf", samples.report_pdf())
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed (scripts/setup installs it)")
    started = time.perf_counter()
    out = subprocess.run(
        [curl, "-s", "-w", "\n%{http_code}", "-F", f"file=@{pdf}", f"{server.url}/v1/jobs"],
        capture_output=True,
        check=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "202"
    assert elapsed < 0.5
    with server.client() as client:
        job_id = httpx.Response(202, content=body).json()["id"]
        assert wait_job(client, job_id)["status"] == "succeeded"


def test_oversized_upload_is_refused_before_the_body_is_sent(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server.port, 64 * 1024 * 1024))
        # Not one byte of the 64 MiB body is sent: the answer must come anyway.
        assert read_status(sock) == 413


def test_chunked_upload_is_cut_off_at_the_limit(server: LiveServer) -> None:
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server.port, None))
        body = multipart_head() + b"%PDF-1.7\n"
        sock.sendall(b"%x\r\n%s\r\n" % (len(body), body))
        chunk = b"0" * 65536
        try:
            for _ in range(1024):  # up to 64 MiB, far past the 8 MiB limit
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status = read_status(sock)
    assert status == 413
    assert sent < 32 * 1024 * 1024
    wait_until(lambda: blob_files(server.data_dir) == [], timeout=5)


def test_a_client_that_disconnects_mid_upload_leaves_nothing(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server.port, 6 * 1024 * 1024))
        sock.sendall(multipart_head() + b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
        time.sleep(0.3)
    time.sleep(0.5)
    with server.client() as client:
        assert client.get("/v1/jobs").json()["items"] == []
    wait_until(lambda: blob_files(server.data_dir) == [], timeout=5)


def test_an_upload_refused_after_its_first_file_was_stored_leaves_nothing(
    server: LiveServer,
) -> None:
    """The first file is whole and stored before the second part shows the request is wrong
    (one file per job); the stored file goes with the refusal."""
    first = whole_file_then_next_boundary("a.pdf")
    body = first + next_part_start("b.pdf") + multipart_tail()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server.port, len(body)) + first)
        time.sleep(0.3)  # the server reads, and stores, the first file alone
        sock.sendall(body[len(first) :])
        assert read_status(sock) == 400
    with server.client() as client:
        assert client.get("/v1/jobs").json()["items"] == []
    wait_until(lambda: blob_files(server.data_dir) == [], timeout=5)


def test_an_upload_refused_for_its_options_leaves_nothing(server: LiveServer) -> None:
    """The options are read with the whole body, after the file: its first megabytes are in a
    temporary file by then, its last ones not yet stored (they go with the job's creation)."""
    data = samples.text_pdf(pages=1) + b"0" * (3 * 1024 * 1024)
    with server.client() as client:
        answer = client.post(
            "/v1/jobs", files={"file": ("a.pdf", data)}, data={"no_such_option": "1"}
        )
        assert answer.status_code == 400, answer.text
        assert client.get("/v1/jobs").json()["items"] == []
    wait_until(lambda: blob_files(server.data_dir) == [], timeout=5)


def test_a_batch_whose_client_leaves_after_one_file_leaves_nothing(server: LiveServer) -> None:
    first = whole_file_then_next_boundary("a.pdf")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head(server.port, 4 * 1024 * 1024, b"/v1/batches") + first)
        time.sleep(0.3)  # the first file is stored
        sock.sendall(next_part_start("b.pdf"))
        time.sleep(0.3)
    time.sleep(0.5)
    with server.client() as client:
        assert client.get("/v1/jobs").json()["items"] == []
    wait_until(lambda: blob_files(server.data_dir) == [], timeout=5)


def test_jobs_of_a_killed_server_finish_after_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    live = LiveServer(data_dir).start()
    with live.client() as client:
        job_id = submit(client, samples.grid_pdf(pages=25)).json()["id"]
        queued = [submit(client, samples.text_pdf(pages=1)).json()["id"] for _ in range(3)]
        wait_job(client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 1)
    worker_pid = lease_owner_pid(data_dir, job_id)
    live.kill_group()  # the server, its fork server and its workers, all at once
    assert worker_pid is not None
    wait_until(lambda: not _alive(worker_pid))

    restarted = LiveServer(data_dir).start()
    try:
        with restarted.client() as client:
            for queued_id in queued:
                assert wait_job(client, queued_id)["status"] == "succeeded"
            job = wait_job(client, job_id, timeout=60)
            assert job["status"] == "succeeded"
            assert job["attempts"] == 2
            kinds = [e["type"] for e in client.get(f"/v1/jobs/{job_id}/events").json()]
            assert kinds.count("succeeded") == 1
            assert "retried" in kinds
    finally:
        restarted.kill_group()


def test_sigterm_hands_running_jobs_back_without_spending_an_attempt(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # OCR of every page (seconds each) outlasts the shutdown's grace on any machine; one
    # worker runs the whole job (no OCR chunks).
    live = LiveServer(data_dir, PDFQ_WORKERS="1", PDFQ_OCR_CHUNK_PAGES="0").start()
    with live.client() as client:
        job_id = submit(client, samples.text_pdf(pages=20), ocr="always").json()["id"]
        wait_job(client, job_id, predicate=lambda j: j["progress"]["pages_done"] >= 1)
    started = time.monotonic()
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM (as process managers expect).
    assert live.stop() in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 25  # the 10 s grace, then the job is handed back

    restarted = LiveServer(data_dir, PDFQ_WORKERS="1", PDFQ_OCR_CHUNK_PAGES="0").start()
    try:
        with restarted.client() as client:
            job = client.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] in ("queued", "running")
            events = client.get(f"/v1/jobs/{job_id}/events").json()
            handed_back = [e for e in events if e["type"] == "retried"]
            assert handed_back
            assert handed_back[0]["data"]["reason"] == "the server shut down"
            job = wait_job(client, job_id, until={"running"})
            assert job["attempts"] == 1  # handing back did not count as a failed attempt
            client.post(f"/v1/jobs/{job_id}/cancel")
    finally:
        restarted.kill_group()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_big_upload_streams_in_bounded_memory(tmp_path: Path) -> None:
    size = 256 * 1024 * 1024
    live = LiveServer(tmp_path / "data", PDFQ_MAX_FILE_BYTES=str(size * 2)).start()
    try:
        assert live.process is not None
        with live.client() as client:
            submit(client, samples.text_pdf(pages=1))  # warm the upload path
        before = _rss_mib(live.process.pid)

        def body() -> Iterator[bytes]:
            yield multipart_head() + b"%PDF-1.7\n"
            block = b"0" * (1024 * 1024)
            for _ in range(size // len(block)):
                yield block
            yield multipart_tail()

        samples_mib: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples_mib.append(_rss_mib(pid))
                time.sleep(0.02)

        pid = live.process.pid
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with live.client() as client:
                response = client.post(
                    "/v1/jobs",
                    content=body(),
                    headers={"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"},
                )
        finally:
            done.set()
            sampler.join()
        assert response.status_code == 202, response.text
        assert response.json()["size_bytes"] == size + 9
        growth = max(samples_mib) - before
        assert len(samples_mib) > 10
        assert growth < 64, f"RSS grew by {growth:.1f} MiB"
    finally:
        live.kill_group()
