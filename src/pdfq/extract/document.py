"""Bytes in, :class:`~pdfq.domain.DocumentResult` out: the extraction entry points.

:class:`Document` opens and checks a file (safety scan, pdfium, page limit) and extracts pages
one at a time, so the worker can record progress and stream results as pages finish;
:func:`extract_document` runs the whole thing in one call (tests, benchmarks, scripts).
Nothing here knows about HTTP, queues or databases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pdfq.domain import DocumentResult, Metadata, Options, PageResult, select_pages
from pdfq.errors import InvalidOptions, MalformedPdf, TooManyPages
from pdfq.extract.markdown import page_markdown
from pdfq.extract.pdf import open_pdf, read_metadata, read_page
from pdfq.extract.scan import ScanReport, scan_pdf
from pdfq.extract.tables import TableFinder

PAGE_SEPARATOR = "\f"
"""Separates pages in the document's plain text (as pdftotext does)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int = 5000
    max_stream_bytes: int = 256 * 1024 * 1024


class Document:
    """An opened, scanned PDF whose pages can be extracted one by one."""

    def __init__(
        self,
        path: Path,
        *,
        options: Options | None = None,
        password: str | None = None,
        limits: Limits | None = None,
        scan: bool = True,
    ) -> None:
        """``scan=False`` skips the safety scan (for a chunk of a file already scanned)."""
        self.path = path
        self.options = options or Options()
        limits = limits or Limits()
        report = (
            scan_pdf(path, password=password, max_stream_bytes=limits.max_stream_bytes)
            if scan
            else ScanReport()
        )
        self.findings: dict[str, Any] = report.findings
        self.structure_problem = report.problem
        if report.problem:
            self.findings["structure_problem"] = report.problem
        self._pdf = open_pdf(path, password)
        try:
            self.page_count = len(self._pdf)
            if self.page_count == 0:
                raise MalformedPdf("the PDF has no pages")
            if self.page_count > limits.max_pages:
                raise TooManyPages(
                    f"the PDF has {self.page_count} pages; the limit is {limits.max_pages}"
                )
            self.metadata: Metadata = read_metadata(self._pdf)
            self.page_numbers = select_pages(self.options.pages, self.page_count)
            if not self.page_numbers:
                raise InvalidOptions(
                    f"pages {self.options.pages!r} selects nothing: "
                    f"the document has {self.page_count} pages"
                )
            self._tables = TableFinder(path, password)
        except BaseException:
            self._pdf.close()
            raise

    def extract_page(self, number: int) -> PageResult:
        """One page's result. A page pdfium cannot load gives an empty page with a warning."""
        try:
            layout = read_page(self._pdf, number)
        except MalformedPdf as exc:
            return PageResult(
                number=number, text="", markdown="", width=0, height=0, warnings=[exc.message]
            )
        try:
            tables = self._tables.find(layout)
        except Exception:  # pdfminer chokes on some pages pdfium reads fine: keep the text
            tables = []
        return PageResult(
            number=number,
            text=layout.text,
            markdown=page_markdown(layout, tables),
            method="text",
            tables=tables,
            width=round(layout.width, 2),
            height=round(layout.height, 2),
        )

    def check_readable(self, pages: list[PageResult]) -> None:
        """Fail as malformed when no page could be read, or when the structure is broken
        (qpdf could not parse it) and some pages could not be read either."""
        broken = [p for p in pages if p.warnings and not p.text]
        if not broken:
            return
        if len(broken) == len(pages):
            raise MalformedPdf(f"none of the pages can be read ({broken[0].warnings[0]})")
        if self.structure_problem:
            raise MalformedPdf(
                f"the PDF structure is broken ({self.structure_problem}) "
                f"and {len(broken)} of {len(pages)} pages cannot be read"
            )

    def close(self) -> None:
        try:
            self._tables.close()
        finally:
            self._pdf.close()

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def assemble(
    *, job_id: str, filename: str, page_count: int, metadata: Metadata, pages: list[PageResult]
) -> DocumentResult:
    """The document result from its pages (in page order)."""
    pages = sorted(pages, key=lambda p: p.number)
    return DocumentResult(
        id=job_id,
        filename=filename,
        page_count=page_count,
        metadata=metadata,
        pages=pages,
        text=PAGE_SEPARATOR.join(p.text for p in pages),
        markdown="\n\n".join(p.markdown for p in pages if p.markdown),
    )


def extract_document(
    path: Path,
    *,
    options: Options | None = None,
    password: str | None = None,
    limits: Limits | None = None,
    on_page: Callable[[PageResult], None] | None = None,
    job_id: str = "",
) -> DocumentResult:
    """Extract a whole PDF in this process."""
    with Document(path, options=options, password=password, limits=limits) as doc:
        results = []
        for number in doc.page_numbers:
            page = doc.extract_page(number)
            results.append(page)
            if on_page is not None:
                on_page(page)
        doc.check_readable(results)
        return assemble(
            job_id=job_id,
            filename=path.name,
            page_count=doc.page_count,
            metadata=doc.metadata,
            pages=results,
        )


__all__ = ["PAGE_SEPARATOR", "Document", "Limits", "assemble", "extract_document"]
