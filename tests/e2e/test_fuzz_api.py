"""Schemathesis against the OpenAPI schema of a real `pdfq serve`: generated requests, valid
and invalid, for unknown and for real jobs, never get a 5xx, and every answer matches the
schema (status codes, content types, bodies).

The operations are driven with Hypothesis directly (schemathesis's pytest plugin reaches into
pytest internals that pytest 9 no longer has).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests import samples
from tests.helpers import LiveServer, submit, wait_job

pytestmark = pytest.mark.slow

EXAMPLES = 40
# A schema-valid upload can still be refused: the schema says "a file", the API checks that
# the file is a PDF (415), not empty (400), ids that exist (404)… by its content.
NOT_APPLICABLE = [schemathesis.checks.positive_data_acceptance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def test_the_api_never_fails_and_keeps_to_its_schema(tmp_path) -> None:
    server = LiveServer(tmp_path / "data").start()
    try:
        with server.client() as client:
            job_id = submit(client, samples.report_pdf(pages=2)).json()["id"]
            wait_job(client, job_id)
            files = [("file", ("a.pdf", samples.report_pdf(), "application/pdf"))]
            batch_id = client.post("/v1/batches", files=files).json()["id"]
        real = {"job_id": job_id, "batch_id": batch_id}
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 15
        # deleting the real job last, so that every other operation meets it
        operations.sort(key=lambda op: op.method.upper() == "DELETE")
        calls = 0
        for operation in operations:
            for mode in MODES:
                calls += run(operation, server.url, operation.as_strategy(mode))
            names = [p for p in real if "{" + p + "}" in operation.path]
            if names:
                known = {name: real[name] for name in names}
                calls += run(operation, server.url, operation.as_strategy(path_parameters=known))
        log = server.log()
    finally:
        server.stop()
    assert calls > 1000
    assert "unhandled error" not in log


def run(operation: Any, base_url: str, strategy: Any) -> int:
    calls = 0

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        excluded = NOT_APPLICABLE
        if case.media_type == "multipart/form-data":
            # Form fields are strings on the wire: a generated null or number arrives as the
            # text "null" or "3", which a field that takes text rightly accepts.
            excluded = [*excluded, schemathesis.checks.negative_data_rejection]
        elif any(name.lower() == "idempotency-key" for name in case.headers or {}):
            # A repeated key answers with the first job without reading the body (documented):
            # an invalid body then is not refused, by design.
            excluded = [*excluded, schemathesis.checks.negative_data_rejection]
        case.call_and_validate(base_url=base_url, timeout=30, excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:  # nothing invalid to send (an operation without parameters)
        assert calls == 0
    return calls
