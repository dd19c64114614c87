"""A scanned test set with ground truth, built here (nothing downloaded).

Born-digital pages of contract-like English prose (headings, numbered clauses, amounts, dates,
several fonts and sizes) are drawn with reportlab, rendered to images at a chosen resolution,
degraded like a real scan (slight rotation, blur, sensor noise, JPEG compression) and put back
into image-only PDFs. Mixed PDFs interleave scanned and born-digital pages. The text drawn on
each page is its ground truth; :func:`cer` scores an OCR result against it.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pikepdf
import pypdfium2 as pdfium
from PIL import Image, ImageFilter
from rapidfuzz.distance import Levenshtein
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

FONTS = ("Helvetica", "Times-Roman", "Courier")
_PARTIES = ("the Supplier", "the Customer", "the Agent", "each Party", "the Licensee")
_VERBS = ("shall deliver", "may terminate", "must notify", "will reimburse", "shall indemnify")
_OBJECTS = (
    "all goods listed in Schedule B",
    "the services described in this Agreement",
    "any invoice that remains unpaid",
    "the confidential information of the other Party",
    "written notice of any material breach",
)
_TAILS = (
    "within {d} days of the Effective Date",
    "no later than {day} {month} {year}",
    "at a fee of EUR {amount} per month",
    "subject to clause {a}.{b} above",
    "unless agreed otherwise in writing",
)
_MONTHS = ("January", "March", "April", "June", "August", "October", "November")
_HEADINGS = (
    "Payment Terms",
    "Term and Termination",
    "Confidentiality",
    "Limitation of Liability",
    "Governing Law",
    "Delivery and Acceptance",
)


@dataclass(frozen=True)
class SourcePage:
    """A born-digital page and the text drawn on it (line by line)."""

    pdf: bytes
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _sentence(rng: random.Random) -> str:
    tail = rng.choice(_TAILS).format(
        d=rng.randint(5, 90),
        day=rng.randint(1, 28),
        month=rng.choice(_MONTHS),
        year=rng.randint(2019, 2031),
        amount=f"{rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(10, 99)}",
        a=rng.randint(1, 12),
        b=rng.randint(1, 9),
    )
    return (
        f"{rng.choice(_PARTIES).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {tail}."
    )


def _wrap(words: list[str], width: float, font: str, size: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, current = [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if current and stringWidth(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def source_page(seed: int) -> SourcePage:
    """One A4 page of clauses in one of the test fonts, 10 to 12 pt (deterministic per seed)."""
    rng = random.Random(seed)
    font = FONTS[seed % len(FONTS)]
    size = rng.choice((10.0, 11.0, 12.0))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    drawn: list[str] = []
    y = height - 72
    title = f"Agreement No. {rng.randint(1000, 9999)}-{seed}"
    c.setFont(font + ("-Bold" if font == "Helvetica" else ""), size + 6)
    c.drawString(72, y, title)
    drawn.append(title)
    y -= 2.2 * size
    clause = 0
    while y > 110:
        clause += 1
        heading = f"{clause}. {rng.choice(_HEADINGS)}"
        c.setFont(font, size + 2)
        c.drawString(72, y, heading)
        drawn.append(heading)
        y -= 1.6 * size
        words = " ".join(_sentence(rng) for _ in range(rng.randint(2, 3))).split()
        c.setFont(font, size)
        for line in _wrap(words, width - 144, font, size):
            if y < 90:
                break
            c.drawString(72, y, line)
            drawn.append(line)
            y -= 1.35 * size
        y -= 0.8 * size
    c.showPage()
    c.save()
    return SourcePage(out.getvalue(), tuple(drawn))


def scan_image(page_pdf: bytes, *, dpi: int, seed: int, skew: float = 1.5) -> Image.Image:
    """The page as a degraded grayscale scan at ``dpi``: grey paper, faded toner, a skew of up
    to ``skew`` degrees, optical blur and sensor noise (JPEG compression follows in
    :func:`image_pdf`)."""
    rng = random.Random(seed)
    document = pdfium.PdfDocument(page_pdf)
    try:
        image = document[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        document.close()
    angle = rng.uniform(-skew, skew)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.4, 0.9) * dpi / 300))
    pixels = np.asarray(image, dtype=np.float32) * 0.78 + 45  # paper ~244, toner ~45
    noise = np.random.default_rng(seed).normal(0.0, 14.0, pixels.shape)
    noisy = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(noisy, mode="L")


def image_pdf(images: list[Image.Image], *, dpi: int) -> bytes:
    """An image-only PDF, one JPEG page per image, page size from ``dpi``."""
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:], quality=60)
    return out.getvalue()


@dataclass(frozen=True)
class ScannedDoc:
    pdf: bytes
    truths: tuple[str, ...]
    """Ground truth per page."""
    dpis: tuple[int | None, ...]
    """Scan resolution per page; ``None`` for a born-digital page."""

    @property
    def scanned(self) -> tuple[int, ...]:
        """1-based numbers of the pages that are images only."""
        return tuple(i + 1 for i, dpi in enumerate(self.dpis) if dpi is not None)


def compose(dpis: Sequence[int | None], *, seed: int = 0, skew: float = 1.5) -> ScannedDoc:
    """One page per entry: scanned at that resolution, or born-digital for ``None``.
    Page ``i`` shows :func:`source_page` ``(seed + i)``."""
    out = pikepdf.new()
    parts = []  # kept open until saved: pages are copied from them on save
    truths = []
    for i, dpi in enumerate(dpis):
        source = source_page(seed + i)
        if dpi is None:
            data = source.pdf
        else:
            image = scan_image(source.pdf, dpi=dpi, seed=seed + i, skew=skew)
            data = image_pdf([image], dpi=dpi)
        parts.append(pikepdf.open(io.BytesIO(data)))
        out.pages.append(parts[-1].pages[0])
        truths.append(source.text)
    buffer = io.BytesIO()
    out.save(buffer)
    for part in parts:
        part.close()
    return ScannedDoc(buffer.getvalue(), tuple(truths), tuple(dpis))


def scanned_pdf(pages: int, *, dpi: int = 300, seed: int = 0) -> ScannedDoc:
    """``pages`` scanned pages at one resolution."""
    return compose([dpi] * pages, seed=seed)


def mixed_pdf(kinds: str, *, dpi: int = 300, seed: int = 100) -> ScannedDoc:
    """Pages by letter: ``s`` a scanned page, ``t`` a born-digital one (``"tsst"``)."""
    return compose([dpi if kind == "s" else None for kind in kinds], seed=seed)


def normalized(text: str, *, spaces: bool = True) -> str:
    """Line breaks and runs of blanks count as one space (OCR may break lines differently);
    with ``spaces=False`` blanks are dropped altogether."""
    return (" " if spaces else "").join(text.split())


def cer(truth: str, found: str, *, spaces: bool = True) -> float:
    """Character error rate: edit distance over the length of the truth. ``spaces=False``
    ignores word spacing (engines that glue words together score on their letters)."""
    reference = normalized(truth, spaces=spaces)
    distance = Levenshtein.distance(reference, normalized(found, spaces=spaces))
    return distance / max(len(reference), 1)
