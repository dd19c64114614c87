"""The error hierarchy and its one mapping to HTTP."""

from __future__ import annotations

import pytest

from pdfq.api.errors import HTTP_STATUS, error_response
from pdfq.domain import ErrorCode
from pdfq.errors import (
    ApiError,
    InputError,
    PdfqError,
    QueueFull,
    TransientError,
    error_for_code,
)

JOB_CODES = [
    "not_a_pdf", "empty_file", "too_large", "too_many_pages", "encrypted", "malformed_pdf",
    "unsafe_pdf", "timeout", "worker_lost", "ocr_failed", "unsupported_type", "storage_error",
    "canceled", "internal",
]  # fmt: skip


@pytest.mark.parametrize("code", JOB_CODES)
def test_every_design_code_has_an_error_class(code: str) -> None:
    error = error_for_code(code, "why")
    assert error.code == ErrorCode(code)
    assert error.message == "why"


def _all_subclasses(cls: type[PdfqError]) -> list[type[PdfqError]]:
    """The classes that are raised: those with a code of their own (not the groups)."""
    found = []
    for sub in cls.__subclasses__():
        found += [sub] if "code" in vars(sub) else []
        found += _all_subclasses(sub)
    return found


@pytest.mark.parametrize("code", [c.value for c in ErrorCode])
def test_every_code_rebuilds_as_its_own_class(code: str) -> None:
    error = error_for_code(code, "why")
    assert error.code == ErrorCode(code)
    assert type(error) is PdfqError or "code" in vars(type(error))


@pytest.mark.parametrize("cls", _all_subclasses(InputError) + _all_subclasses(ApiError))
def test_client_errors_never_map_to_5xx(cls: type[PdfqError]) -> None:
    status = HTTP_STATUS.get(cls.code, 500)
    assert 400 <= status < 500, f"{cls.__name__} ({cls.code}) maps to {status}"


@pytest.mark.parametrize("cls", _all_subclasses(TransientError))
def test_transient_errors_map_to_503(cls: type[PdfqError]) -> None:
    assert HTTP_STATUS[cls.code] == 503


def test_default_message_is_the_docstring() -> None:
    assert QueueFull().message == "Too many jobs are waiting; try again later."


def test_too_many_requests_name_their_limit() -> None:
    import json

    from pdfq.errors import QuotaExceeded, RateLimited, Unauthorized

    response = error_response(QuotaExceeded("full", retry_after=3, limit="tenant_max_queued"))
    assert response.status_code == 429
    assert json.loads(bytes(response.body))["error"] == {
        "code": "quota_exceeded",
        "message": "full",
        "limit": "tenant_max_queued",
        "retry_after": 3,
    }
    assert error_response(RateLimited(retry_after=1)).headers["retry-after"] == "1"
    denied = error_response(Unauthorized())
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Bearer")


def test_queue_full_sets_retry_after() -> None:
    response = error_response(QueueFull(retry_after=7))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
