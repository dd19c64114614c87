"""PDFs laid out the way real files are, for the reading-order and table tests.

Generated producers often draw a page row by row *across* its columns (one text object per
column per row, in the order left, right, left, right…): content-stream order is then word
soup, and only geometry gives the reading order. Each builder returns the PDF and the words
expected in each column, so the tests can check the order without hard-coding the layout.
"""

from __future__ import annotations

import io

import pikepdf
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

WORDS = [
    *[
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
        "india",
        "juliet",
        "kilo",
        "lima",
        "mike",
    ],
    *[
        "november",
        "oscar",
        "papa",
        "quebec",
        "romeo",
        "sierra",
        "tango",
        "uniform",
        "victor",
        "whiskey",
        "xray",
    ],
    *["yankee", "zulu"],
]


def _sentence(column: int, row: int, width: float, font: tuple[str, float]) -> str:
    """A line of prose that says where it belongs (``c1r03 alpha bravo …``), as many words as
    fit in ``width`` points, as a typesetter fills a column."""
    line = f"c{column}r{row:02d}"
    for i in range(40):
        longer = f"{line} {WORDS[(row * 3 + column + i) % len(WORDS)]}"
        if stringWidth(longer, *font) > width:
            break
        line = longer
    return line


def columns_pdf(columns: int = 2, rows: int = 30, *, title: str | None = "A Title") -> bytes:
    """One page of ``columns`` columns of prose, drawn row by row across the columns, with a
    full-width title above and a full-width footer line below."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    width, height = letter
    margin, gutter = 54.0, 24.0
    column_width = (width - 2 * margin - gutter * (columns - 1)) / columns
    y = height - 72
    if title:
        c.setFont("Helvetica-Bold", 18)
        c.drawString(margin, y, title)
        y -= 36
    c.setFont("Helvetica", 9)
    for row in range(rows):
        for column in range(columns):
            x = margin + column * (column_width + gutter)
            c.drawString(x, y, _sentence(column, row, column_width, ("Helvetica", 9)))
        y -= 12
    c.setFont("Helvetica", 8)
    c.drawString(margin, 40, "The footer line runs across the whole width of the page, once.")
    c.showPage()
    c.save()
    return out.getvalue()


def sidebar_pdf(rows: int = 30) -> bytes:
    """A narrow left sidebar (ten short entries) beside a main column, drawn row by row."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    _, height = letter
    y = height - 72
    c.setFont("Helvetica", 9)
    for row in range(rows):
        if 4 <= row < 14:  # a boxed list of short entries beside the text
            c.drawString(40, y, f"c0r{row:02d} entry {WORDS[row]}")
        c.drawString(180, y, _sentence(1, row, 380, ("Helvetica", 9)))
        y -= 12
    c.showPage()
    c.save()
    return out.getvalue()


def rotated_pdf() -> bytes:
    """A /Rotate 90 page whose text is drawn turned, so that it reads upright on screen."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    c.setFont("Helvetica", 11)
    c.translate(0, 792)
    c.rotate(-90)  # user space turned so that text runs down the portrait page
    for row in range(5):
        c.drawString(72, 72 + 16 * row, f"Rotated line {row} reads left to right on screen.")
    c.showPage()
    c.save()
    pdf = pikepdf.open(io.BytesIO(out.getvalue()))
    pdf.pages[0].Rotate = 90
    saved = io.BytesIO()
    pdf.save(saved)
    return saved.getvalue()


def aligned_table_pdf() -> tuple[bytes, list[list[str]]]:
    """A table without any rule: short cells aligned in columns, under a paragraph."""
    rows = [["Item", "Count", "Price"]] + [
        [f"part-{i}", str(10 + i), f"{3 * i + 1}.50"] for i in range(6)
    ]
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    c.setFont("Helvetica", 10)
    c.drawString(72, 720, "The parts below were counted on Monday, and priced on Tuesday.")
    y = 690
    for row in rows:
        for x, cell in zip((72, 220, 340), row, strict=True):
            c.drawString(x, y, cell)
        y -= 16
    c.showPage()
    c.save()
    return out.getvalue(), rows


def scaled_font_pdf() -> bytes:
    """Text set in a 1 pt font scaled up by the text matrix (as some producers write it):
    the reported font size says 1, the glyphs are 12 pt."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    text = c.beginText()
    text.setFont("Helvetica", 1)
    text.setTextTransform(24, 0, 0, 24, 72, 700)
    text.textLine("Scaled Heading")
    c.drawText(text)
    for i in range(8):
        body = c.beginText()
        body.setFont("Helvetica", 1)
        body.setTextTransform(11, 0, 0, 11, 72, 660 - 14 * i)
        body.textLine(f"Body line {i} of text set in a tiny font that the matrix scales.")
        c.drawText(body)
    c.showPage()
    c.save()
    return out.getvalue()


def ocr_layer_pdf() -> bytes:
    """A scanned page as OCR software saves it: the page-sized scan, the recognised text
    over it (invisible, render mode 3), and a small logo image that is a real figure."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader

    scan = Image.new("L", (850, 1100), 250)
    ImageDraw.Draw(scan).text((100, 100), "Scanned letter", fill=0)
    logo = Image.new("RGB", (64, 64), (200, 30, 30))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    c.drawImage(ImageReader(scan), 0, 0, *letter)
    c.drawImage(ImageReader(logo), 480, 680, 64, 64)
    text = c.beginText(72, 700)
    text.setTextRenderMode(3)
    text.setFont("Helvetica", 12)
    text.textLine("Scanned letter recognised by the scanner's own OCR.")
    c.drawText(text)
    c.showPage()
    c.save()
    return out.getvalue()


CODE = [
    "from pdfq import Client",
    "",
    "def main() -> None:",
    "    client = Client()",
    "    print(client.health())",
]


def code_pdf() -> bytes:
    """Prose in Helvetica around a code listing in Courier, indented as written."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    c.setFont("Helvetica", 11)
    c.drawString(72, 720, "The client is used like this, in a few lines of Python:")
    y = 700
    c.setFont("Courier", 9)
    for line in CODE:
        if line:
            c.drawString(72, y, line)
        y -= 11
    c.setFont("Helvetica", 11)
    c.drawString(72, y - 10, "It prints the server's health and exits.")
    c.showPage()
    c.save()
    return out.getvalue()


def running_header_pdf(pages: int = 5) -> bytes:
    """Pages of prose under a running header, over a ``Page X of Y`` footer."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=letter)
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 8)
        c.drawString(54, 760, "pdfq handbook - chapter two")
        c.drawRightString(558, 30, f"Page {page} of {pages}")
        c.setFont("Helvetica", 11)
        for row in range(20):
            c.drawString(72, 700 - 14 * row, _sentence(0, page * 100 + row, 440, ("Helvetica", 11)))
        c.showPage()
    c.save()
    return out.getvalue()
