"""One error hierarchy for pdfq; each error carries its stable :class:`~pdfq.domain.ErrorCode`.

::

    PdfqError
    ├── InputError            bad input; the job (or request) ends, retrying will not help
    │   ├── NotAPdf, EmptyFile, TooLarge, TooManyPages, Encrypted, MalformedPdf, UnsafePdf,
    │   │   UnsupportedType, InvalidOptions, InvalidRequest
    ├── ProcessingError       the work itself failed
    │   ├── JobTimeout, WorkerLost, OcrFailed, InputMissing, Canceled
    ├── TransientError        the infrastructure hiccupped; the step is retried
    │   └── StorageError, Unavailable
    └── ApiError              request-level answers
        ├── NotFound, Conflict, Expired, Unauthorized, Forbidden
        └── TooManyRequests   QueueFull, RateLimited, QuotaExceeded (429 with Retry-After)

Domain code raises these; the HTTP layer maps codes to statuses in one place
(``pdfq.api.errors``). The docstring of each class is its default message.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pdfq.domain import ErrorCode


class PdfqError(Exception):
    """Something went wrong inside pdfq."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or self.code.value).strip()
        self.details = details
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class InputError(PdfqError):
    """The input cannot be processed."""


class NotAPdf(InputError):
    """The file is not a PDF (no %PDF- header in its first kilobyte)."""

    code = ErrorCode.NOT_A_PDF


class EmptyFile(InputError):
    """The file is empty."""

    code = ErrorCode.EMPTY_FILE


class TooLarge(InputError):
    """The file is larger than the configured limit."""

    code = ErrorCode.TOO_LARGE


class TooManyPages(InputError):
    """The document has more pages than the configured limit."""

    code = ErrorCode.TOO_MANY_PAGES


class Encrypted(InputError):
    """The PDF is encrypted and no password, or a wrong one, was given."""

    code = ErrorCode.ENCRYPTED


class MalformedPdf(InputError):
    """The PDF is damaged beyond repair."""

    code = ErrorCode.MALFORMED_PDF


class UnsafePdf(InputError):
    """The PDF was rejected by the safety policy."""

    code = ErrorCode.UNSAFE_PDF


class UnsupportedType(InputError):
    """This file type is not supported."""

    code = ErrorCode.UNSUPPORTED_TYPE


class InvalidOptions(InputError):
    """The job options are invalid."""

    code = ErrorCode.INVALID_OPTIONS


class InvalidRequest(InputError):
    """The request is invalid."""

    code = ErrorCode.INVALID_REQUEST


class ProcessingError(PdfqError):
    """Processing the document failed."""


class JobTimeout(ProcessingError):
    """The job took longer than its time limit."""

    code = ErrorCode.TIMEOUT


class WorkerLost(ProcessingError):
    """The worker running the job died (crash, out of memory, killed) too many times."""

    code = ErrorCode.WORKER_LOST


class OcrFailed(ProcessingError):
    """OCR failed."""

    code = ErrorCode.OCR_FAILED


class InputMissing(ProcessingError):
    """The input file is missing from blob storage."""

    code = ErrorCode.STORAGE_ERROR


class Canceled(ProcessingError):
    """The job was canceled."""

    code = ErrorCode.CANCELED


class TransientError(PdfqError):
    """A temporary failure of a backing service; the step is retried."""


class StorageError(TransientError):
    """The blob storage failed."""

    code = ErrorCode.STORAGE_ERROR


class Unavailable(TransientError):
    """A backing service is unavailable."""

    code = ErrorCode.UNAVAILABLE


class ApiError(PdfqError):
    """The request cannot be answered as asked."""


class NotFound(ApiError):
    """No such job."""

    code = ErrorCode.NOT_FOUND


class Expired(ApiError):
    """The job's files were removed after its retention period."""

    code = ErrorCode.EXPIRED


class Conflict(ApiError):
    """The job is not in a state that allows this."""

    code = ErrorCode.CONFLICT


class Unauthorized(ApiError):
    """A valid API key is required: send `Authorization: Bearer <key>`."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(ApiError):
    """This API key may not do that."""

    code = ErrorCode.FORBIDDEN


class TooManyRequests(ApiError):
    """A limit was reached; try again after ``retry_after`` seconds. ``limit`` names it."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = 5,
        limit: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, retry_after=retry_after, limit=limit, **details)
        self.retry_after = retry_after
        self.limit = limit


class QueueFull(TooManyRequests):
    """Too many jobs are waiting; try again later."""

    code = ErrorCode.QUEUE_FULL


class RateLimited(TooManyRequests):
    """Too many requests; slow down."""

    code = ErrorCode.RATE_LIMITED


class QuotaExceeded(TooManyRequests):
    """The tenant has as many jobs waiting as it may."""

    code = ErrorCode.QUOTA_EXCEEDED


_BY_CODE: dict[ErrorCode, type[PdfqError]] = {}


def _index(cls: type[PdfqError]) -> None:
    for sub in cls.__subclasses__():
        if "code" in vars(sub):  # groups (InputError, …) only inherit a code
            _BY_CODE.setdefault(sub.code, sub)
        _index(sub)


_index(PdfqError)


def error_for_code(code: ErrorCode | str, message: str | None = None) -> PdfqError:
    """Rebuild the error of a stored or received code (used by the client and the store)."""
    cls = _BY_CODE.get(ErrorCode(code), PdfqError)
    return cls(message)
