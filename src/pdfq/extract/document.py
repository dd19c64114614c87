"""Bytes in, :class:`~pdfq.domain.DocumentResult` out: the extraction entry points.

:class:`Document` opens and checks a file (safety scan, pdfium, page limit) and extracts pages
in order, yielding each as it finishes, so the worker can record progress and stream results;
:func:`extract_document` runs the whole thing in one call (tests, benchmarks, scripts).
A page whose text layer is missing or useless (``ocr=auto``), or every page (``ocr=always``),
is rendered and read by the OCR provider chain; the others keep their text layer.
Nothing here knows about HTTP, queues or databases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pdfq.domain import (
    DocumentResult,
    Metadata,
    Options,
    PageImage,
    PageResult,
    Table,
    select_pages,
)
from pdfq.errors import InvalidOptions, MalformedPdf, OcrFailed, TooManyPages, UnsafePdf
from pdfq.extract.blocks import to_blocks, with_images
from pdfq.extract.furniture import Furniture
from pdfq.extract.images import ImageBudget, page_images
from pdfq.extract.isolate import StageClock, guarded
from pdfq.extract.markdown import PageBlock, blocks_markdown, page_blocks, plain_blocks
from pdfq.extract.ocr.decide import ocr_reason
from pdfq.extract.pdf import (
    Line,
    OpenPage,
    PageLayout,
    lines_text,
    open_pdf,
    open_text_page,
    read_layout,
    read_metadata,
)
from pdfq.extract.render import render_page
from pdfq.extract.scan import ScanReport, scan_pdf
from pdfq.extract.tables import FoundTables, find_tables

if TYPE_CHECKING:
    from pdfq.config import Settings
    from pdfq.extract.ocr import OcrChain

LOOK_AHEAD = 6
"""Pages read before the first is extracted, so running headers are known from the start."""

PAGE_SEPARATOR = "\f"
"""Separates pages in the document's plain text (as pdftotext does)."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int = 5000
    max_stream_bytes: int = 256 * 1024 * 1024
    ocr_dpi: int = 300
    ocr_max_pixels: int = 40_000_000
    reject_findings: frozenset[str] = frozenset()
    """Safety-scan findings that refuse a document (``unsafe_pdf``)."""
    max_image_bytes: int = 256 * 1024 * 1024
    """Bytes of images one document may extract."""
    page_seconds: float = 60.0
    """A page's time budget: its optional stages (tables, images) are skipped past it."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits a worker applies, from its settings."""
        return cls(
            max_pages=settings.max_pages,
            max_stream_bytes=settings.max_stream_bytes,
            ocr_dpi=settings.ocr_dpi,
            ocr_max_pixels=settings.ocr_max_pixels,
            reject_findings=settings.rejected_findings,
            max_image_bytes=settings.max_image_bytes,
        )


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
        ocr: OcrChain | None = None,
    ) -> None:
        """``scan=False`` skips the safety scan (for a chunk of a file already scanned).
        Without ``ocr``, pages that need OCR keep their (empty) text layer and a warning."""
        self.path = path
        self.options = options or Options()
        self.limits = limits = limits or Limits()
        self.ocr = ocr
        self.images = ImageBudget(
            max_pixels=limits.ocr_max_pixels, bytes_left=limits.max_image_bytes
        )
        self._layouts: dict[int, tuple[PageLayout | MalformedPdf, str | None]] = {}
        self.clock = StageClock(page_budget=limits.page_seconds)
        self.furniture = Furniture()
        self.columns: list[float] = []
        """Where column gutters were found on the pages read so far."""
        started = time.perf_counter()
        report = (
            scan_pdf(path, password=password, max_stream_bytes=limits.max_stream_bytes)
            if scan
            else ScanReport()
        )
        self.findings: dict[str, Any] = report.findings
        refused = sorted(limits.reject_findings.intersection(report.findings))
        if refused:
            found = ", ".join(f"{name} ({report.findings[name]})" for name in refused)
            raise UnsafePdf(f"refused by the safety policy: the PDF has {found}")
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
        except BaseException:
            self._pdf.close()
            raise
        self.clock.add("open", started)

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent so far per stage (open, text, tables, images, blocks, markdown, ocr)."""
        return self.clock.seconds

    def _layout(self, number: int) -> tuple[PageLayout | MalformedPdf, str | None]:
        """The page's text layer and why it needs OCR (``None``: it does not)."""
        cached = self._layouts.pop(number, None)
        if cached is not None:
            return cached
        self.clock.new_page()
        try:
            with open_text_page(self._pdf, number, self.clock) as opened:
                return self._read_layout(opened, number)
        except MalformedPdf as exc:
            return exc, None

    def _read_layout(self, opened: OpenPage, number: int) -> tuple[PageLayout, str | None]:
        """The loaded page's layout (its furniture and columns learned) and why it needs OCR."""
        layout = read_layout(opened, number, self.clock, self.columns)
        self.furniture.learn(layout)
        return layout, ocr_reason(layout, self.options.ocr)

    def ocr_pages(self, numbers: Iterable[int]) -> list[int]:
        """Which of these pages will go to OCR. Their layouts are read once and kept for the
        extraction that follows, so asking costs no second pass over the text layer."""
        wanted = []
        for number in numbers:
            self._layouts[number] = found = self._layout(number)
            if found[1] is not None:
                wanted.append(number)
        return wanted

    def extract_pages(self, numbers: Sequence[int]) -> Iterator[PageResult]:
        """The pages' results, in order, each as soon as it is done. Pages for OCR are read in
        batches of the chain's batch size (one page at a time for local engines)."""
        batch: list[tuple[PageLayout, str]] = []
        size = self.ocr.batch_size if self.ocr is not None else 1
        # The first pages are held until a few have been read: their running headers and
        # footers are known from the pages that follow (each page is still loaded once).
        ahead = LOOK_AHEAD if len(numbers) >= 3 else 1
        held: list[_TextRead | PageResult | tuple[PageLayout, str]] = []
        for index, number in enumerate(numbers):
            held.append(self._from_text_layer(number))
            if index + 1 < ahead and index + 1 < len(numbers):
                continue
            for done in held:
                if isinstance(done, tuple):
                    batch.append(done)
                    if len(batch) >= size:
                        yield from self._read(batch)
                    continue
                yield from self._read(batch)
                yield done if isinstance(done, PageResult) else self._finish(done)
            held = []
        yield from self._read(batch)

    def extract_page(self, number: int) -> PageResult:
        """One page's result. A page pdfium cannot load gives an empty page with a warning."""
        return next(self.extract_pages([number]))

    def _from_text_layer(self, number: int) -> _TextRead | PageResult | tuple[PageLayout, str]:
        """The page read from its text layer, loading it once for every stage (its blocks
        are made later, by :meth:`_finish`); an unreadable page's result; or its layout and
        why it needs OCR instead."""
        cached = self._layouts.pop(number, None)
        if cached is not None and isinstance(cached[0], MalformedPdf):
            return _unreadable(number, cached[0])
        if cached is not None and cached[1] is not None and self.ocr is not None:
            assert isinstance(cached[0], PageLayout)
            return cached[0], cached[1]
        self.clock.new_page()
        try:
            with open_text_page(self._pdf, number, self.clock) as opened:
                if cached is not None and isinstance(cached[0], PageLayout):
                    layout, reason = cached[0], cached[1]
                else:
                    layout, reason = self._read_layout(opened, number)
                if reason is None:
                    return self._text_page(layout, opened)
                if self.ocr is None:
                    note = f"the page needs OCR ({reason}) but OCR is off"
                    return self._text_page(layout, opened, [note])
                return layout, reason
        except MalformedPdf as exc:
            return _unreadable(number, exc)

    def _text_page(
        self, layout: PageLayout, opened: OpenPage, warnings: list[str] | None = None
    ) -> _TextRead:
        """What the loaded page gives: its tables and images. Every stage is isolated
        (:mod:`pdfq.extract.isolate`): a page whose tables, images, blocks or Markdown fail
        keeps the rest and says so."""
        warnings = [*layout.warnings, *(warnings or [])]
        clock = self.clock
        found = guarded(
            "tables",
            lambda: find_tables(layout, opened.textpage, opened.frame),
            FoundTables,
            warnings,
            clock,
        )
        tables = found.tables
        warnings += found.warnings
        images: list[PageImage] = []
        if self.options.images and layout.drawing.image_area > 0:  # an image shows
            images = guarded(
                "images", lambda: self._images(layout, opened, warnings), list, warnings, clock
            )
        return _TextRead(layout, tables, images, warnings)

    def _finish(self, read: _TextRead) -> PageResult:
        """The page's blocks, Markdown and result, once its furniture can be told."""
        layout, tables, images, warnings = read.layout, read.tables, read.images, read.warnings
        clock = self.clock
        furniture_ids = {id(line) for line in self.furniture.find(layout)}

        def is_furniture(line: Line) -> bool:
            return id(line) in furniture_ids

        def blocks() -> list[PageBlock]:
            return with_images(page_blocks(layout, tables, is_furniture), images, tables)

        def plain() -> list[PageBlock]:
            return plain_blocks(layout)

        parts = guarded("blocks", blocks, plain, warnings, clock, optional=False)
        markdown = guarded(
            "markdown",
            lambda: blocks_markdown(parts),
            lambda: layout.text,
            warnings,
            clock,
            optional=False,
        )
        page_blocks_json = guarded(
            "blocks",
            lambda: to_blocks(parts, tables, images),
            list,
            warnings,
            clock,
            optional=False,
        )
        furniture = [line for p in parts if p.kind == "furniture" for line in p.lines]
        return PageResult(
            number=layout.number,
            text=_without(layout, furniture),
            markdown=markdown,
            method="text",
            tables=tables,
            blocks=page_blocks_json,
            images=images,
            width=round(layout.width, 2),
            height=round(layout.height, 2),
            warnings=warnings,
            furniture=[line.text for line in furniture],
        )

    def _images(self, layout: PageLayout, opened: OpenPage, warnings: list[str]) -> list[PageImage]:
        images, problems = page_images(
            opened.page, layout.height, self.images, text_over=bool(layout.text.strip())
        )
        warnings += problems
        return images

    def take_images(self) -> dict[str, bytes]:
        """The images found since the last call, by name (each document image once)."""
        taken, self.images.taken = self.images.taken, {}
        return taken

    def _read(self, batch: list[tuple[PageLayout, str]]) -> Iterator[PageResult]:
        """OCR a batch of pages (emptied on return)."""
        if not batch:
            return
        taken = list(batch)
        batch.clear()
        assert self.ocr is not None  # pages without OCR are read from their text layer
        from pdfq.extract.ocr.layout import ocr_layout

        started = time.perf_counter()
        images = [
            render_page(
                self._pdf,
                layout.number,
                dpi=self.limits.ocr_dpi,
                max_pixels=self.limits.ocr_max_pixels,
            )
            for layout, _ in taken
        ]
        try:
            answers = self.ocr.recognize(images, self.options.languages)
        except OcrFailed as exc:
            numbers = ", ".join(str(layout.number) for layout, _ in taken)
            raise OcrFailed(f"page {numbers}: {exc.message}") from exc
        seconds = round((time.perf_counter() - started) / len(taken), 3)
        self.clock.add("ocr", started)
        for (layout, reason), image, answer in zip(taken, images, answers, strict=True):
            read = ocr_layout(answer, layout, image.info["dpi"][0] / 72)
            notes = list(answer.notes)
            parts = guarded(
                "blocks",
                partial(page_blocks, read, []),
                partial(plain_blocks, read),
                notes,
                self.clock,
                optional=False,
            )
            yield PageResult(
                number=layout.number,
                text=read.text,
                markdown=blocks_markdown(parts),
                blocks=to_blocks(parts, [], [], positioned=bool(answer.lines), with_lines=True),
                method="ocr",
                ocr_provider=answer.provider,
                ocr_confidence=None if answer.confidence is None else round(answer.confidence, 3),
                ocr_reason=reason,
                ocr_seconds=seconds,
                width=round(layout.width, 2),
                height=round(layout.height, 2),
                warnings=notes,
            )

    def check_readable(self, pages: list[PageResult]) -> None:
        """Fail as malformed when no page could be read, or when the structure is broken
        (qpdf could not parse it) and some pages could not be read either."""
        broken = [p for p in pages if p.width == 0 and not p.text and p.warnings]
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


@dataclass(slots=True)
class _TextRead:
    """A text page read (its page closed since), waiting for its blocks."""

    layout: PageLayout
    tables: list[Table]
    images: list[PageImage]
    warnings: list[str]


def _without(layout: PageLayout, furniture: list[Line]) -> str:
    """The page's text without its furniture lines (when the text is its lines)."""
    if not furniture or layout.text != lines_text(layout.lines):
        return layout.text
    left_out = {id(line) for line in furniture}
    return lines_text([line for line in layout.lines if id(line) not in left_out])


def _unreadable(number: int, problem: MalformedPdf) -> PageResult:
    return PageResult(
        number=number, text="", markdown="", width=0, height=0, warnings=[problem.message]
    )


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
    ocr: OcrChain | None = None,
) -> DocumentResult:
    """Extract a whole PDF in this process."""
    with Document(path, options=options, password=password, limits=limits, ocr=ocr) as doc:
        results = []
        for page in doc.extract_pages(doc.page_numbers):
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
