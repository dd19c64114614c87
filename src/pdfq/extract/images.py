"""Embedded raster images of a page, taken out as files.

JPEG images in RGB or grey are kept byte for byte; everything else is decoded by pdfium and
written as PNG (fast compression: extraction time matters more than a few bytes). Each image
is named after its content (``<first 16 hex digits of its SHA-256>.png|jpg``), so an image
repeated on many pages (a logo) is stored once, and it is decoded and encoded once: the same
stream seen again (by the hash of its raw bytes) reuses the first one's name. Tiny images
(icons, rules, tracking pixels) are skipped, and so are images past the pixel and byte limits,
with a warning on the page, and the page-sized scan under an OCR'd PDF's text layer (the text
is the page's content; the scan is its background, not a figure).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from pdfq.domain import PageImage

MIN_PIXELS = 16  # on each side
MIN_POINTS = 8.0  # drawn size on each side
MAX_PER_PAGE = 100
PAGE_SCAN = 0.8  # share of the page an image under a text layer covers to be its scan


@dataclass
class ImageBudget:
    """What one document may still extract."""

    max_pixels: int = 40_000_000
    bytes_left: int = 256 * 1024 * 1024
    taken: dict[str, bytes] = field(default_factory=dict)
    """Images found and not yet stored, by name."""
    seen: set[str] = field(default_factory=set)
    by_stream: dict[str, str] = field(default_factory=dict)
    """Names of the images already encoded, by the hash of their raw stream."""


def page_images(
    page: pdfium.PdfPage, height: float, budget: ImageBudget, *, text_over: bool = False
) -> tuple[list[PageImage], list[str]]:
    """The page's images (placed where they are drawn) and warnings; their bytes go to
    ``budget.taken``. With ``text_over`` (the page has a text layer), an image covering
    most of the page is its scan under an OCR text layer, not a figure: it is left out."""
    page_area = max(page.get_width() * page.get_height(), 1.0)
    found: list[PageImage] = []
    warnings: list[str] = []
    for obj in _image_objects(page):
        if len(found) >= MAX_PER_PAGE:
            warnings.append(f"more than {MAX_PER_PAGE} images on the page: the rest skipped")
            break
        try:
            left, bottom, right, top = obj.get_bounds()
            width, height_px = obj.get_px_size()
        except pdfium.PdfiumError:
            continue
        if width < MIN_PIXELS or height_px < MIN_PIXELS:
            continue
        if right - left < MIN_POINTS or top - bottom < MIN_POINTS:
            continue
        if text_over and (right - left) * (top - bottom) >= PAGE_SCAN * page_area:
            continue
        if width * height_px > budget.max_pixels:
            warnings.append(f"an image of {width}x{height_px} pixels is over the limit: skipped")
            continue
        try:
            stream = _stream_key(obj, width, height_px)
            name = budget.by_stream.get(stream)
            data = b""
            if name is None:
                data, extension = _encode(obj)
                name = f"{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
        except (pdfium.PdfiumError, OSError, ValueError) as exc:
            warnings.append(f"an image could not be read: {exc}")
            continue
        if stream not in budget.by_stream:
            if name not in budget.seen:
                if len(data) > budget.bytes_left:
                    warnings.append("the document's images passed the size limit: the rest skipped")
                    break
                budget.bytes_left -= len(data)
                budget.seen.add(name)
                budget.taken[name] = data
            budget.by_stream[stream] = name
        box = (round(left, 2), round(height - top, 2), round(right, 2), round(height - bottom, 2))
        found.append(PageImage(name=name, bbox=box, width=width, height=height_px))
    return found, warnings


def _image_objects(page: pdfium.PdfPage) -> Iterator[pdfium.PdfImage]:
    """The page's image objects, forms entered three levels deep (raw calls: pypdfium2's
    ``get_objects`` wraps every object of the page, text included, to filter them)."""

    def walk(count: int, get: Callable[[int], Any], level: int) -> Iterator[pdfium.PdfImage]:
        for i in range(count):
            raw = get(i)
            kind = pdfium_c.FPDFPageObj_GetType(raw)
            if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                yield pdfium.PdfObject(raw, page=page, pdf=page.pdf, level=level)
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and level < 3:
                inner = partial(pdfium_c.FPDFFormObj_GetObject, raw)
                yield from walk(pdfium_c.FPDFFormObj_CountObjects(raw), inner, level + 1)

    get = partial(pdfium_c.FPDFPage_GetObject, page)
    yield from walk(pdfium_c.FPDFPage_CountObjects(page), get, 0)


def _stream_key(obj: pdfium.PdfImage, width: int, height: int) -> str:
    """The image's identity before decoding: its raw stream, filters and size."""
    digest = hashlib.sha256(bytes(obj.get_data(decode_simple=False)))
    digest.update(f"{width}x{height}:{obj.get_filters()}".encode())
    return digest.hexdigest()


def _encode(obj: pdfium.PdfImage) -> tuple[bytes, str]:
    if obj.get_filters() == ["DCTDecode"]:
        raw = bytes(obj.get_data(decode_simple=True))
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.mode in ("RGB", "L"):
                return raw, "jpg"
    image = obj.get_bitmap(render=False).to_pil()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=1)
    return out.getvalue(), "png"
