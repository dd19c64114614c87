"""The one place where errors become HTTP answers: ``{"error": {"code", "message"}}``.

Domain code raises :class:`~pdfq.errors.PdfqError` subclasses and never an HTTP exception;
the status for each stable code is chosen here.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdfq.domain import ErrorCode
from pdfq.errors import PdfqError, TooManyRequests, Unauthorized

log = structlog.get_logger(__name__)

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_A_PDF: 415,
    ErrorCode.UNSUPPORTED_TYPE: 415,
    ErrorCode.EMPTY_FILE: 400,
    ErrorCode.INVALID_OPTIONS: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.TOO_LARGE: 413,
    # Document problems found by workers (only raised at the API by synchronous paths).
    ErrorCode.TOO_MANY_PAGES: 422,
    ErrorCode.ENCRYPTED: 422,
    ErrorCode.MALFORMED_PDF: 422,
    ErrorCode.UNSAFE_PDF: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.EXPIRED: 410,
    ErrorCode.QUEUE_FULL: 429,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.STORAGE_ERROR: 503,
}


def error_body(code: ErrorCode | str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, **extra}}


def error_response(exc: PdfqError, *, close: bool = False) -> JSONResponse:
    """The JSON answer for an error; ``close`` drops the connection after it (unread body)."""
    status = HTTP_STATUS.get(exc.code, 500)
    headers = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
        extra = {"limit": exc.limit, "retry_after": exc.retry_after}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="pdfq"'
    if close:
        headers["Connection"] = "close"
    if status >= 500:
        log.error("request failed", code=exc.code.value, reason=exc.message)
    body = error_body(exc.code, exc.message, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


async def _pdfq_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PdfqError)
    return error_response(exc, close=getattr(request.state, "body_unread", False))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
    )
    return JSONResponse(error_body(ErrorCode.INVALID_REQUEST, problems), status_code=400)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.INVALID_REQUEST}.get(
        exc.status_code, ErrorCode.INVALID_REQUEST
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_body(ErrorCode.INTERNAL, "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PdfqError, _pdfq_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
