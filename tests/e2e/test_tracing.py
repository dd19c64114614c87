"""OpenTelemetry: a job's trace goes from the upload request, through the queue (the store),
into the worker, exported over OTLP/HTTP to a collector (a real HTTP server in the test)."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests import samples
from tests.helpers import LiveServer, submit, wait_job, wait_until

pytestmark = pytest.mark.slow


class Collector:
    """Receives OTLP/HTTP trace exports and keeps every span."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            collector.spans.append(
                                {
                                    "service": service,
                                    "name": span.name,
                                    "trace": span.trace_id.hex(),
                                    "id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(),
                                    "attributes": {
                                        a.key: a.value.string_value or a.value.int_value
                                        for a in span.attributes
                                    },
                                }
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.close()


def test_an_upload_and_its_job_share_one_trace(tmp_path: Path, collector: Collector) -> None:
    server = LiveServer(tmp_path / "data", PDFQ_OTEL_ENDPOINT=collector.url).start()
    try:
        with server.client() as client:
            job_id = submit(client, samples.report_pdf(pages=2)).json()["id"]
            assert wait_job(client, job_id)["status"] == "succeeded"
        work = wait_until(
            lambda: [s for s in collector.spans if s["name"] == "pdfq.job"], timeout=15
        )
        upload = wait_until(
            lambda: [s for s in collector.spans if s["name"] == "POST /v1/jobs"], timeout=15
        )
    finally:
        server.stop()
    (job_span,) = work
    (request_span,) = upload
    assert job_span["service"] == "pdfq-worker"
    assert request_span["service"] == "pdfq-api"
    assert job_span["trace"] == request_span["trace"]
    assert job_span["parent"] == request_span["id"]
    assert job_span["attributes"]["pdfq.job_id"] == job_id
    assert request_span["attributes"]["http.route"] == "/v1/jobs"
    assert request_span["attributes"]["http.response.status_code"] == 202


def test_tracing_is_off_by_default(tmp_path: Path) -> None:
    import sqlite3

    server = LiveServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            job_id = submit(client, samples.report_pdf()).json()["id"]
            wait_job(client, job_id)
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "data" / "pdfq.db") as conn:
        row = conn.execute("SELECT trace_context FROM jobs WHERE id = ?", (job_id,)).fetchone()
    (context,) = row
    assert context is None  # no trace context is made or stored
