"""Opening PDFs with pdfium and reading one page's text layer.

A page gives its plain text (pdfium's reading order), its lines (runs of text with font size
and weight, in top-left coordinates like pdfplumber's) and cheap drawing statistics used to
decide whether table detection is worth running. Everything here costs a fraction of a
millisecond per page; anything slower belongs elsewhere.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfq.domain import Metadata
from pdfq.errors import Encrypted, MalformedPdf

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|extrabold|ultrabold", re.IGNORECASE)
_MAX_OBJECTS = 20_000  # drawing statistics stop counting here (maps, charts)


def clean_text(text: str) -> str:
    """pdfium text → plain text: ``\\n`` line ends, no control characters, no trailing blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "-")
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


@dataclass(slots=True)
class Line:
    """One line of text with its box (top-left origin), dominant font size and weight.

    ``segments`` are the horizontal extents of the runs pdfium sees on the line, in order;
    wide gaps between them hint at table columns.
    """

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    segments: tuple[tuple[float, float], ...] = ()
    confidence: float | None = None
    """OCR lines: the engine's confidence, 0 to 1."""

    def column_gaps(self) -> int:
        """How many wide horizontal gaps split this line (a hint of table columns)."""
        return sum(
            1
            for (_, right), (left, _) in zip(self.segments, self.segments[1:], strict=False)
            if left - right > self.size * 1.2
        )


@dataclass(slots=True)
class Drawing:
    """Vector graphics and images on a page (counted, not kept)."""

    h_rules: int = 0
    v_rules: int = 0
    boxes: int = 0
    grid_segments: int = 0
    image_area: float = 0.0
    paths: int = 0


@dataclass(slots=True)
class PageLayout:
    number: int
    width: float
    height: float
    text: str
    lines: list[Line] = field(default_factory=list)
    drawing: Drawing = field(default_factory=Drawing)

    @property
    def char_count(self) -> int:
        return sum(1 for c in self.text if not c.isspace())


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


@lru_cache(maxsize=1024)
def _is_bold_font(name: bytes, weight: int) -> bool:
    return weight >= 600 or bool(_BOLD_NAME.search(name.decode("latin-1")))


class _FontProbe:
    """Font size and boldness of a character, with a reused output buffer."""

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(128)
        self._flags = ctypes.c_int()

    def __call__(self, textpage: pdfium.PdfTextPage, index: int) -> tuple[float, bool]:
        size = float(pdfium_c.FPDFText_GetFontSize(textpage, index))
        pdfium_c.FPDFText_GetFontInfo(textpage, index, self._buf, 128, ctypes.byref(self._flags))
        weight = pdfium_c.FPDFText_GetFontWeight(textpage, index)
        return size, _is_bold_font(self._buf.value, weight)


def _read_lines(textpage: pdfium.PdfTextPage, raw: str, height: float) -> list[Line]:
    """Lines from pdfium's text (its reading order), each located with a few cheap calls.

    Character ``i`` of ``get_text_range()`` is character ``i`` of the text page (line breaks
    are generated characters), so a line's characters are addressed by offset; boxes come
    from pdfium's per-range rectangles and fonts from two probe characters per line.
    """
    probe = _FontProbe()
    addressable = len(raw) == textpage.count_chars()
    lines: list[Line] = []
    offset = 0
    for piece in raw.split("\r\n"):
        start, offset = offset, offset + len(piece) + 2
        text = " ".join(clean_text(piece).split())
        if not text:
            continue
        if not addressable:  # characters outside the BMP shift offsets: keep text only
            lines.append(Line(text, 0.0, 0.0, 0.0, 0.0, 0.0, False))
            continue
        lead = start + len(piece) - len(piece.lstrip())
        count = len(piece.strip())
        rects = [textpage.get_rect(i) for i in range(textpage.count_rects(lead, count))]
        if not rects:
            continue
        size, bold = probe(textpage, lead)
        middle_size, middle_bold = probe(textpage, lead + count // 2)
        size, bold = min(size, middle_size), bold and middle_bold
        top = height - max(r[3] for r in rects)
        bottom = height - min(r[1] for r in rects)
        if size <= 1.5:  # some producers scale a 1pt font through the text matrix
            size = bottom - top
        segments = tuple(sorted((r[0], r[2]) for r in rects)) if len(rects) > 1 else ()
        lines.append(
            Line(
                text,
                min(r[0] for r in rects),
                max(r[2] for r in rects),
                top,
                bottom,
                round(size, 1),
                bold,
                segments,
            )
        )
    return lines


def _read_drawing(page: pdfium.PdfPage, width: float, height: float) -> Drawing:
    """Count rules, boxes and image area (raw pdfium calls: no wrapper object per item)."""
    drawing = Drawing()
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    refs = (ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(top))
    seen = 0

    def visit(count: int, get: Any, depth: int) -> None:
        nonlocal seen
        for i in range(count):
            seen += 1
            if seen > _MAX_OBJECTS:
                return
            obj = get(i)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < 3:
                visit(
                    pdfium_c.FPDFFormObj_CountObjects(obj),
                    lambda k, form=obj: pdfium_c.FPDFFormObj_GetObject(form, k),
                    depth + 1,
                )
                continue
            if kind not in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE):
                continue
            if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
                drawing.paths += 1
            if not pdfium_c.FPDFPageObj_GetBounds(obj, *refs):
                continue
            w, h = right.value - left.value, top.value - bottom.value
            if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                w = max(0.0, min(right.value, width) - max(left.value, 0.0))
                h = max(0.0, min(top.value, height) - max(bottom.value, 0.0))
                drawing.image_area += w * h
            elif h <= 2.5 and w >= 8:
                drawing.h_rules += 1
            elif w <= 2.5 and h >= 8:
                drawing.v_rules += 1
            elif w >= 8 and h >= 8:
                drawing.boxes += 1
                segments = pdfium_c.FPDFPath_CountSegments(obj)
                if segments >= 12:  # a whole grid drawn as one path
                    drawing.grid_segments += segments

    visit(
        pdfium_c.FPDFPage_CountObjects(page),
        lambda k: pdfium_c.FPDFPage_GetObject(page, k),
        0,
    )
    return drawing


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


def read_page(doc: pdfium.PdfDocument, number: int) -> PageLayout:
    """Read page ``number`` (1-based): text, lines and drawing statistics."""
    with open_page(doc, number) as page:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            raw = textpage.get_text_range()
            text = clean_text(raw)
            lines = _read_lines(textpage, raw, height) if text else []
        finally:
            textpage.close()
        drawing = _read_drawing(page, width, height)
    return PageLayout(number, width, height, text, lines, drawing)
