"""The mixed test set of issue 8, built here with known content and known positions:
a 20-slide PPTX, a DOCX with a table, a multi-page TIFF, a PDF with images, and a hand-made
OpenDocument text. Positions are in PDF points from the page's top-left corner."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
EMU_PER_POINT = 12700


@dataclass(frozen=True)
class Placed:
    """Text drawn at a known place: its box (x0, top, x1, bottom) in points."""

    text: str
    box: tuple[float, float, float, float]
    page: int = 1


def pptx(slides: int = 20) -> tuple[bytes, list[Placed]]:
    """Slides each with a text box "Slide N: …" at a known place (top-anchored, known
    insets), and a bullet list."""
    from pptx import Presentation
    from pptx.enum.text import MSO_ANCHOR
    from pptx.util import Emu, Pt

    deck = Presentation()
    blank = deck.slide_layouts[6]
    placed = []
    for n in range(1, slides + 1):
        slide = deck.slides.add_slide(blank)
        left, top, width, height = 72 + (n % 3) * 20, 60 + (n % 4) * 15, 500, 60
        box = slide.shapes.add_textbox(
            Emu(left * EMU_PER_POINT),
            Emu(top * EMU_PER_POINT),
            Emu(width * EMU_PER_POINT),
            Emu(height * EMU_PER_POINT),
        )
        frame = box.text_frame
        frame.vertical_anchor = MSO_ANCHOR.TOP
        frame.word_wrap = True
        frame.text = f"Slide {n}: quarterly results"
        frame.paragraphs[0].runs[0].font.size = Pt(28)
        body = slide.shapes.add_textbox(
            Emu(72 * EMU_PER_POINT), Emu(200 * EMU_PER_POINT),
            Emu(500 * EMU_PER_POINT), Emu(200 * EMU_PER_POINT),
        )  # fmt: skip
        body.text_frame.text = f"Revenue grew in region {n}"
        body.text_frame.paragraphs[0].runs[0].font.size = Pt(18)
        # The text starts after the frame's inset (0.1 inch left, 0.05 inch top); its first
        # line of 28 pt text is at most 1.3 x 28 pt high.
        inner_top = top + 3.6
        placed.append(
            Placed(frame.text, (left + 7.2, inner_top, left + width, inner_top + 36.4), n)
        )
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue(), placed


DOCX_ROWS = [["Item", "Quantity", "Price"], ["Widget", "4", "12.50"], ["Gadget", "10", "3.20"]]


def docx() -> bytes:
    """A heading, a paragraph and a bordered table."""
    from docx import Document

    document = Document()
    document.add_heading("Purchase order 42", level=1)
    document.add_paragraph("The buyer orders the following goods at the prices below.")
    table = document.add_table(rows=len(DOCX_ROWS), cols=len(DOCX_ROWS[0]))
    table.style = "Table Grid"
    for r, row in enumerate(DOCX_ROWS):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Payment is due within thirty days.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def tiff(pages: int = 3, dpi: int = 200) -> tuple[bytes, list[Placed]]:
    """A multi-page scan: one line of large text per page at a known place."""
    font = ImageFont.truetype(FONT, 56)
    frames, placed = [], []
    scale = 72 / dpi
    for n in range(1, pages + 1):
        image = Image.new("L", (int(8.5 * dpi), int(11 * dpi)), 255)
        draw = ImageDraw.Draw(image)
        text = f"Invoice page {n} total due"
        x, y = 160 + 40 * n, 240 + 60 * n
        draw.text((x, y), text, font=font, fill=0)
        x0, top, x1, bottom = draw.textbbox((x, y), text, font=font)
        frames.append(image)
        placed.append(Placed(text, (x0 * scale, top * scale, x1 * scale, bottom * scale), n))
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:], dpi=(dpi, dpi))
    return out.getvalue(), placed


PDF_IMAGE_BOXES = [(72.0, 142.0, 272.0, 242.0), (320.0, 142.0, 420.0, 242.0)]


def pdf_with_images() -> tuple[bytes, list[Placed]]:
    """A heading, text and two images (one of them twice, on two pages)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    red = Image.new("RGB", (200, 100), (200, 30, 30))
    logo = Image.new("RGB", (64, 64), (20, 90, 200))
    ImageDraw.Draw(logo).ellipse((8, 8, 56, 56), fill=(250, 250, 250))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(595, 842))
    placed = []
    for page in (1, 2):
        pdf.setFont("Helvetica-Bold", 20)
        pdf.drawString(72, 770, f"Annual review {page}")
        placed.append(Placed(f"Annual review {page}", (72, 842 - 770 - 14.4, 230, 842 - 770), page))
        pdf.setFont("Helvetica", 11)
        pdf.drawString(72, 740, "A paragraph about the year, above the pictures.")
        if page == 1:
            pdf.drawImage(ImageReader(red), 72, 600, width=200, height=100)
        pdf.drawImage(ImageReader(logo), 320, 600, width=100, height=100)
        pdf.drawString(72, 580, "Caption under the pictures.")
        pdf.showPage()
    pdf.save()
    return out.getvalue(), placed


def odt(text: str = "An OpenDocument letter.") -> bytes:
    """A minimal OpenDocument text, with the stored ``mimetype`` entry first."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )  # fmt: skip
        archive.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
            ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
            f"<office:body><office:text><text:p>{text}</text:p></office:text></office:body>"
            "</office:document-content>",
        )
        archive.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type='
            '"application/vnd.oasis.opendocument.text"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
    return out.getvalue()


def png(text: str = "Scanned receipt 77") -> bytes:
    image = Image.new("RGB", (1200, 400), (255, 255, 255))
    ImageDraw.Draw(image).text((80, 150), text, font=ImageFont.truetype(FONT, 60), fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(300, 300))
    return out.getvalue()


def broken_docx() -> bytes:
    """A ZIP that claims to be a Word document and is not one."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "this is not XML " * 50)
    return out.getvalue()


def png_bomb(side: int = 60_000) -> bytes:
    """A tiny PNG header claiming a huge image (decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
