"""An OCR answer as a page layout, so OCR pages get their Markdown from the same code as
born-digital ones (headings from relative letter height, lists, paragraphs from spacing).

Line positions are converted from image pixels to PDF points. Providers that report no lines
(a vision model answering with text) get one line per text line, evenly spaced, with blank
lines kept as paragraph breaks.
"""

from __future__ import annotations

from pdfq.extract.ocr import OcrResult
from pdfq.extract.pdf import Line, PageLayout, clean_text


def ocr_layout(result: OcrResult, page: PageLayout, pixels_per_point: float) -> PageLayout:
    """``page`` with its text and lines replaced by what OCR read."""
    text = clean_text(result.text)
    if result.lines:
        lines = [
            Line(
                text=line.text,
                x0=line.box[0] / pixels_per_point,
                x1=line.box[2] / pixels_per_point,
                top=line.box[1] / pixels_per_point,
                bottom=line.box[3] / pixels_per_point,
                # Rounded: lines of one font size should come out as one number.
                size=round(line.size / pixels_per_point, 1),
                bold=False,
                confidence=round(line.confidence, 3),
            )
            for line in result.lines
        ]
    else:
        lines = _even_lines(text)
    return PageLayout(page.number, page.width, page.height, text, lines, page.drawing)


def _even_lines(text: str, size: float = 10.0) -> list[Line]:
    lines = []
    top = 0.0
    for raw in text.split("\n"):
        stripped = " ".join(raw.split())
        if stripped:
            lines.append(Line(stripped, 0.0, 0.0, top, top + size, size, False))
        top += size * 1.2 if stripped else size  # a blank line opens a new paragraph
    return lines
