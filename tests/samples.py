"""PDFs made for the tests: born-digital documents with known content, and hostile files.

Everything is generated (reportlab for real documents, a tiny raw writer for malformed ones),
so the expected text is known exactly and nothing is downloaded.
"""

from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

import pikepdf
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Flowable,
    ListFlowable,
    ListItem,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

STYLES = getSampleStyleSheet()
BODY = (
    "Paragraph {n} of the sample report explains the figures in plain words, so that the "
    "extractor has a real paragraph to join across several lines of the rendered page."
)
TABLE_ROWS = [["Region", "Q1", "Q2", "Q3"], ["North", "10", "12", "15"], ["South", "7", "9", "11"]]


def report_pdf(pages: int = 1, *, title: str = "Quarterly Report") -> bytes:
    """A born-digital report: a title, headings, paragraphs, a list and a ruled table."""
    story: list[Flowable] = [Paragraph(title, STYLES["Title"])]
    for page in range(1, pages + 1):
        story += [
            Paragraph(f"{page}. Section {page}", STYLES["Heading1"]),
            Paragraph(BODY.format(n=page), STYLES["BodyText"]),
            ListFlowable(
                [
                    ListItem(Paragraph(t, STYLES["BodyText"]))
                    for t in ("first point", "second point")
                ],
                bulletType="bullet",
            ),
            Paragraph("Results", STYLES["Heading2"]),
            Table(TABLE_ROWS, style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)])),
            Spacer(1, 12),
            Paragraph(f"End of section {page}.", STYLES["BodyText"]),
        ]
        if page < pages:
            story.append(PageBreak())
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, author="pdfq tests").build(story)
    return out.getvalue()


def text_pdf(pages: int = 1, *, words_per_page: int = 300) -> bytes:
    """Plain text pages (fast to extract): ``Page N`` then numbered words."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 10)
        y = 800
        c.drawString(72, y, f"Page {page}")
        words = [f"word{page}x{i}" for i in range(words_per_page)]
        for i in range(0, len(words), 10):
            y -= 14
            c.drawString(72, y, " ".join(words[i : i + 10]))
        c.showPage()
    c.save()
    return out.getvalue()


def grid_pdf(pages: int = 1, *, rows: int = 40, cols: int = 8) -> bytes:
    """Pages full of ruled tables: slow for the table finder (used to keep a job running)."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    cell_w, cell_h = (width - 80) / cols, (height - 80) / rows
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 6)
        for r in range(rows + 1):
            c.line(40, 40 + r * cell_h, 40 + cols * cell_w, 40 + r * cell_h)
        for k in range(cols + 1):
            c.line(40 + k * cell_w, 40, 40 + k * cell_w, 40 + rows * cell_h)
        for r in range(rows):
            for k in range(cols):
                c.drawString(42 + k * cell_w, 42 + r * cell_h, f"p{page}r{r}c{k}")
        c.showPage()
    c.save()
    return out.getvalue()


def encrypted_pdf(password: str = "s3cret") -> bytes:
    source = pikepdf.open(io.BytesIO(report_pdf()))
    out = io.BytesIO()
    source.save(out, encryption=pikepdf.Encryption(user=password, owner=password + "-owner"))
    return out.getvalue()


def build_raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from raw object bodies (object i+1 is ``objects[i]``) with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (len(objects) + 1, root))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def many_pages_pdf(count: int) -> bytes:
    """``count`` empty pages, written directly (20,000 pages take a second)."""
    kids = b" ".join(b"%d 0 R" % (i + 3) for i in range(count))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
    return build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        ]
        + [page] * count
    )


def page_tree_cycle_pdf() -> bytes:
    """The page tree lists itself as one of its kids."""
    return build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


def stream_pdf(content: bytes, *, compress: bool = True) -> bytes:
    """One page whose content stream is ``content`` (flate-compressed when asked)."""
    data = zlib.compress(content, 9) if compress else content
    filters = b"/Filter /FlateDecode " if compress else b""
    return build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< %s/Length %d >>\nstream\n" % (filters, len(data)) + data + b"\nendstream",
        ]
    )


def deflate_bomb_pdf(inflated_bytes: int = 1 << 30) -> bytes:
    """A page content stream that inflates to ``inflated_bytes`` (1 GiB: about 1 MB on disk)."""
    compressor = zlib.compressobj(9)
    zeros = b" " * (16 << 20)
    parts = [compressor.compress(zeros) for _ in range(inflated_bytes // len(zeros))]
    parts.append(compressor.flush())
    data = b"".join(parts)
    return build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        ]
    )


def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def flipped(data: bytes, flips: int, seed: int) -> bytes:
    """``data`` with ``flips`` random bytes replaced (deterministic for a seed)."""
    rng = random.Random(seed)
    buffer = bytearray(data)
    for _ in range(flips):
        buffer[rng.randrange(16, len(buffer))] = rng.randrange(256)
    return bytes(buffer)


PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
ELF_BYTES = b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"\x03\x00>\x00" + b"\x00" * 200
HTML_BYTES = b"<!doctype html><html><body><p>Not a PDF at all.</p></body></html>\n" * 40


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
