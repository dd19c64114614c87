"""Opening PDFs with pdfium and reading one page's text layer.

A page gives its text pieces (runs of text with box, font size and weight, in the displayed
page's top-left coordinates like pdfplumber's; :mod:`pdfq.extract.textlayer`), its drawing
(counts and table edges; :mod:`pdfq.extract.drawing`), and its lines and plain text in
reading order (:mod:`pdfq.extract.order`), not in the order the file draws them. Everything
here costs about a millisecond per page; anything slower belongs elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfq.domain import Metadata
from pdfq.errors import Encrypted, MalformedPdf
from pdfq.extract.drawing import read_drawing
from pdfq.extract.isolate import StageClock, guarded
from pdfq.extract.order import reading_order
from pdfq.extract.page import Drawing, Frame, Line, PageLayout, clean_text, visible_chars
from pdfq.extract.textlayer import page_frame, read_pieces


def open_pdf(source: Path | bytes, password: str | None = None) -> pdfium.PdfDocument:
    """Open a PDF, mapping pdfium's load errors to pdfq errors."""
    try:
        return pdfium.PdfDocument(source if isinstance(source, bytes) else str(source), password)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise Encrypted(
                "the PDF is encrypted and the password is wrong"
                if password
                else "the PDF is encrypted: send its password in the `password` field"
            ) from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise Encrypted("the PDF uses an unsupported security handler") from exc
        raise MalformedPdf(f"the PDF cannot be read: {exc}") from exc


_METADATA_FIELDS = {
    "Title": "title",
    "Author": "author",
    "Subject": "subject",
    "Keywords": "keywords",
    "Creator": "creator",
    "Producer": "producer",
    "CreationDate": "creation_date",
    "ModDate": "modification_date",
}


def read_metadata(doc: pdfium.PdfDocument) -> Metadata:
    raw = doc.get_metadata_dict(skip_empty=True)
    values = {_METADATA_FIELDS[k]: clean_text(v) for k, v in raw.items() if k in _METADATA_FIELDS}
    return Metadata(**{k: v for k, v in values.items() if v})


@contextmanager
def open_page(doc: pdfium.PdfDocument, number: int) -> Iterator[pdfium.PdfPage]:
    """Page ``number`` (1-based), closed afterwards; pdfium errors become ``MalformedPdf``."""
    try:
        page = doc[number - 1]
    except pdfium.PdfiumError as exc:
        raise MalformedPdf(f"page {number} cannot be read: {exc}") from exc
    try:
        yield page
    except pdfium.PdfiumError as exc:
        raise MalformedPdf(f"page {number} cannot be read: {exc}") from exc
    finally:
        page.close()


def lines_text(lines: list[Line]) -> str:
    """The page's plain text: its lines in reading order, one per line."""
    return "\n".join(line.text for line in lines)


@dataclass(slots=True)
class OpenPage:
    """A loaded page with its text page and frame, for the stages that read it."""

    page: pdfium.PdfPage
    textpage: pdfium.PdfTextPage
    frame: Frame


@contextmanager
def open_text_page(
    doc: pdfium.PdfDocument, number: int, clock: StageClock | None = None
) -> Iterator[OpenPage]:
    """Page ``number`` loaded once for all its stages (text, drawing, tables, images)."""
    started = time.perf_counter()
    with open_page(doc, number) as page:
        textpage = page.get_textpage()
        try:
            opened = OpenPage(page, textpage, page_frame(page))
            if clock is not None:
                clock.add("text", started)
            yield opened
        finally:
            textpage.close()


def read_layout(
    opened: OpenPage,
    number: int,
    clock: StageClock | None = None,
    columns: list[float] | None = None,
) -> PageLayout:
    """The loaded page's lines and text in reading order, and its drawing statistics.

    Each step is isolated: text pdfium cannot place, a broken drawing or a failed reading
    order leave the page with pdfium's own text and a warning.
    """
    warnings: list[str] = []
    started = time.perf_counter()
    frame = opened.frame
    raw = opened.textpage.get_text_range()
    text = clean_text(raw)
    if clock is not None:
        clock.add("text", started)
    pieces: list[Line] = []
    if text:
        pieces = guarded(
            "text positions",
            lambda: read_pieces(opened.textpage, raw, frame),
            lambda: [],
            warnings,
            clock,
            optional=False,
        )
    drawing = guarded(
        "drawing",
        lambda: read_drawing(opened.page, frame),
        Drawing,
        warnings,
        clock,
        optional=False,
    )
    lines = guarded(
        "reading order",
        lambda: reading_order(pieces, frame.width, frame.height, columns),
        lambda: list(pieces),
        warnings,
        clock,
        optional=False,
    )
    ordered = lines_text(lines)
    if visible_chars(ordered) >= 0.9 * visible_chars(text):  # else keep pdfium's: nothing is lost
        text = ordered
    return PageLayout(number, frame.width, frame.height, text, lines, drawing, warnings, pieces)


__all__ = [
    "Drawing",
    "Line",
    "OpenPage",
    "PageLayout",
    "clean_text",
    "lines_text",
    "open_page",
    "open_pdf",
    "open_text_page",
    "read_layout",
    "read_metadata",
]
