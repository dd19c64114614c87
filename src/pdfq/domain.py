"""Domain models shared by every layer: jobs, their options, events and extraction results.

These pydantic models are the vocabulary of the HTTP API, the store, the workers and the
Python client alike, so the JSON a client reads is exactly what the server wrote.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class ErrorCode(StrEnum):
    """Stable machine codes. Jobs end with one of the first group; the API answers with any."""

    NOT_A_PDF = "not_a_pdf"
    EMPTY_FILE = "empty_file"
    TOO_LARGE = "too_large"
    TOO_MANY_PAGES = "too_many_pages"
    ENCRYPTED = "encrypted"
    MALFORMED_PDF = "malformed_pdf"
    UNSAFE_PDF = "unsafe_pdf"
    TIMEOUT = "timeout"
    WORKER_LOST = "worker_lost"
    OCR_FAILED = "ocr_failed"
    UNSUPPORTED_TYPE = "unsupported_type"
    STORAGE_ERROR = "storage_error"
    CANCELED = "canceled"
    INTERNAL = "internal"
    # Request-level codes (HTTP answers only).
    INVALID_REQUEST = "invalid_request"
    INVALID_OPTIONS = "invalid_options"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    QUEUE_FULL = "queue_full"
    UNAVAILABLE = "unavailable"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    EXPIRED = "expired"


class OcrMode(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


_PAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$")
_LANGUAGES = re.compile(r"^[A-Za-z_]{3,16}(\+[A-Za-z_]{3,16})*$")


def parse_page_ranges(spec: str) -> list[tuple[int, int | None]]:
    """Parse ``"1-5,8,10-"`` into ``[(1, 5), (8, 8), (10, None)]`` (1-based, inclusive).

    ``None`` as an end means "to the last page". Raises ``ValueError`` with a readable reason.
    """
    ranges: list[tuple[int, int | None]] = []
    for part in spec.split(","):
        match = _PAGE_RANGE.match(part)
        if not match:
            raise ValueError(f"page range {part.strip()!r} is not of the form N, N-M or N-")
        start = int(match.group(1))
        end: int | None = start
        if match.group(2) is not None:  # "N-" or "N-M"
            end = int(match.group(3)) if match.group(3) else None
        if start < 1 or (end is not None and end < start):
            raise ValueError(f"page range {part.strip()!r} is empty or starts before page 1")
        ranges.append((start, end))
    return ranges


def select_pages(spec: str | None, page_count: int) -> list[int]:
    """The sorted, distinct 1-based page numbers that ``spec`` picks from a document."""
    if not spec:
        return list(range(1, page_count + 1))
    chosen: set[int] = set()
    for start, end in parse_page_ranges(spec):
        last = page_count if end is None else min(end, page_count)
        chosen.update(range(start, last + 1))
    return sorted(chosen)


class Options(BaseModel):
    """What the client asked for. Stored with the job; never holds secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ocr: OcrMode = Field(OcrMode.AUTO, description="`auto`: OCR pages without a usable text layer.")
    languages: str = Field("eng", description="OCR languages, Tesseract style: `eng+deu`.")
    pages: str | None = Field(None, description="Pages to process, e.g. `1-5,8,10-`.")
    webhook_url: str | None = Field(
        None, max_length=2048, description="Called with the final job JSON (http or https)."
    )
    priority: int = Field(0, ge=-10, le=10, description="Higher runs first.")
    images: bool = Field(
        True,
        description="Extract the embedded raster images of text pages into the results.",
    )
    dedupe: bool = Field(
        True,
        description="Answer at once with the result of an earlier job of the same tenant that "
        "read the same file with the same options.",
    )

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook_url must be an http:// or https:// URL")
        return value.strip()

    @property
    def result_shape(self) -> tuple[str, str, str | None, bool]:
        """The options that change a result (two jobs of one file with equal shapes have
        equal results)."""
        return (self.ocr.value, self.languages, self.pages, self.images)

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: str) -> str:
        if not _LANGUAGES.match(value):
            raise ValueError("languages must look like 'eng' or 'eng+deu'")
        return value

    @field_validator("pages")
    @classmethod
    def _check_pages(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_page_ranges(value)
        return ",".join(p.strip().replace(" ", "") for p in value.split(","))


class Progress(BaseModel):
    pages_done: int = 0
    pages_total: int | None = None


class JobError(BaseModel):
    code: ErrorCode
    message: str


class Job(BaseModel):
    """A job as the API shows it."""

    id: str
    status: JobStatus
    filename: str
    size_bytes: int
    sha256: str
    input_type: str = Field(
        "pdf",
        description="What was uploaded, recognised by content: `pdf`, `png`, `jpeg`, `tiff`, "
        "`docx`, `pptx`, `xlsx`, `odt`, `odp`, `ods` or `rtf`.",
    )
    options: Options
    progress: Progress
    error: JobError | None = None
    attempts: int = 0
    batch_id: str | None = None
    dedupe_of: str | None = Field(
        None, description="The earlier job whose result this one reuses (same file and options)."
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expired_at: datetime | None = Field(
        None, description="When its files were removed (retention); results then answer 410."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> dict[str, str]:
        base = f"/v1/jobs/{self.id}"
        return {
            "self": base,
            "result": f"{base}/result",
            "events": f"{base}/events",
            "tables": f"{base}/tables.csv",
        }


class RejectedFile(BaseModel):
    """A file of a batch refused on arrival: it has no job."""

    filename: str
    status: int = Field(description="The HTTP status a single upload of it would have had.")
    error: JobError


class Batch(BaseModel):
    """Files sent together: one job each, plus the files refused on arrival."""

    id: str
    created_at: datetime
    counts: dict[str, int] = Field(description="Jobs per status, and `rejected` for refused files.")
    jobs: list[Job]
    rejected: list[RejectedFile] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> dict[str, str]:
        base = f"/v1/batches/{self.id}"
        return {"self": base, "events": f"{base}/events", "jobs": f"/v1/jobs?batch={self.id}"}


class JobPage(BaseModel):
    """One page of ``GET /v1/jobs``; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[Job]
    next_cursor: str | None = None


class Event(BaseModel):
    id: int
    job_id: str
    type: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class EventPage(BaseModel):
    """One page of ``GET /v1/events``; pass ``next_after`` back as ``after`` for the next."""

    items: list[Event]
    next_after: int | None = None


class Table(BaseModel):
    rows: list[list[str]]
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="x0, top, x1, bottom in PDF points from the page's top-left corner."
    )


Box = tuple[float, float, float, float]
"""x0, top, x1, bottom in PDF points from the page's top-left corner."""


class BlockLine(BaseModel):
    text: str
    bbox: Box
    confidence: float | None = Field(None, description="OCR pages: the engine's, 0 to 1.")


class Block(BaseModel):
    """A region of a page: a heading, paragraph, list item, code block, table or image, or page
    furniture (a running header or footer, a page number), with its box."""

    kind: Literal["heading", "paragraph", "list_item", "code", "table", "image", "furniture"]
    bbox: Box | None = Field(
        None, description="x0, top, x1, bottom in PDF points (`null`: position unknown)."
    )
    text: str = Field("", description="Its plain text, a line per line.")
    markdown: str = Field("", description="Its Markdown, as it appears in the page's.")
    level: int | None = Field(None, description="Headings: 1 to 3.")
    lines: list[BlockLine] = Field(
        default_factory=list,
        description="OCR pages: the lines the engine read, each with its box and confidence.",
    )
    table: int | None = Field(None, description="Tables: its index in the page's `tables`.")
    image: str | None = Field(None, description="Images: its name under `images/`.")
    confidence: float | None = Field(None, description="OCR pages: the mean of its lines.")


class PageImage(BaseModel):
    """An embedded raster image, stored with the job's results."""

    name: str = Field(description="Its file: `/v1/jobs/{id}/images/{name}`.")
    bbox: Box
    width: int = Field(description="Pixels.")
    height: int = Field(description="Pixels.")


class PageResult(BaseModel):
    number: int
    text: str
    markdown: str
    method: Literal["text", "ocr"] = Field(
        "text", description="`text`: the PDF's text layer; `ocr`: read from the rendered page."
    )
    ocr_provider: str | None = Field(None, description="The OCR provider whose answer was used.")
    ocr_confidence: float | None = Field(
        None, description="Its mean confidence, 0 to 1 (`null` when the provider reports none)."
    )
    ocr_reason: str | None = Field(
        None,
        description="Why the page went to OCR: `no text layer`, `mostly an image`, "
        "`unmapped glyphs` or `requested` (`ocr=always`).",
    )
    ocr_seconds: float | None = Field(
        None,
        description="Time spent rendering and reading the page (its share of the batch it was "
        "read in).",
    )
    tables: list[Table] = Field(default_factory=list)
    blocks: list[Block] = Field(
        default_factory=list,
        description="Headings, paragraphs, list items, tables and images, in reading order, "
        "with their boxes.",
    )
    images: list[PageImage] = Field(default_factory=list)
    width: float
    height: float
    warnings: list[str] = Field(
        default_factory=list, description="Problems met on this page (e.g. it could not be read)."
    )
    furniture: list[str] = Field(
        default_factory=list,
        description="Running headers and footers and page numbers, left out of `text` and "
        "`markdown` (their blocks have the kind `furniture`).",
    )


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None = None
    author: str | None = None
    subject: str | None = None
    keywords: str | None = None
    creator: str | None = None
    producer: str | None = None
    creation_date: str | None = None
    modification_date: str | None = None


class DocumentResult(BaseModel):
    id: str
    filename: str
    page_count: int
    metadata: Metadata
    pages: list[PageResult]
    text: str
    markdown: str


class _IdClock:
    """UUIDv7 with a 12-bit counter in ``rand_a``: ids of one process strictly increase."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def next(self) -> tuple[int, int]:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._ms:
                # A random start within the lower half leaves room to count up in this ms.
                self._ms, self._counter = ms, int.from_bytes(os.urandom(2), "big") & 0x7FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:  # more than 2,048 ids in one ms: borrow the next ms
                    self._ms, self._counter = self._ms + 1, 0
            return self._ms, self._counter


_ID_CLOCK = _IdClock()


def new_id() -> str:
    """A time-ordered id (UUIDv7): sorting ids sorts by creation time within a process."""
    ms, counter = _ID_CLOCK.next()
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0x2 << 62 | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
