"""Embedded raster images of a page, taken out as files.

JPEG images in RGB or grey are kept byte for byte; everything else is decoded by pdfium and
written as PNG. Each image is named after its content (``<first 16 hex digits of its
SHA-256>.png|jpg``), so an image repeated on many pages (a logo) is stored once. Tiny images
(icons, rules, tracking pixels) are skipped, and so are images past the pixel and byte limits,
with a warning on the page.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from pdfq.domain import PageImage

MIN_PIXELS = 16  # on each side
MIN_POINTS = 8.0  # drawn size on each side
MAX_PER_PAGE = 100


@dataclass
class ImageBudget:
    """What one document may still extract."""

    max_pixels: int = 40_000_000
    bytes_left: int = 256 * 1024 * 1024
    taken: dict[str, bytes] = field(default_factory=dict)
    """Images found and not yet stored, by name."""
    seen: set[str] = field(default_factory=set)


def page_images(
    page: pdfium.PdfPage, height: float, budget: ImageBudget
) -> tuple[list[PageImage], list[str]]:
    """The page's images (placed where they are drawn) and warnings; their bytes go to
    ``budget.taken``."""
    found: list[PageImage] = []
    warnings: list[str] = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
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
        if width * height_px > budget.max_pixels:
            warnings.append(f"an image of {width}x{height_px} pixels is over the limit: skipped")
            continue
        try:
            data, extension = _encode(obj)
        except (pdfium.PdfiumError, OSError, ValueError) as exc:
            warnings.append(f"an image could not be read: {exc}")
            continue
        name = f"{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
        if name not in budget.seen:
            if len(data) > budget.bytes_left:
                warnings.append("the document's images passed the size limit: the rest skipped")
                break
            budget.bytes_left -= len(data)
            budget.seen.add(name)
            budget.taken[name] = data
        box = (round(left, 2), round(height - top, 2), round(right, 2), round(height - bottom, 2))
        found.append(PageImage(name=name, bbox=box, width=width, height=height_px))
    return found, warnings


def _encode(obj: pdfium.PdfImage) -> tuple[bytes, str]:
    if obj.get_filters() == ["DCTDecode"]:
        raw = bytes(obj.get_data(decode_simple=True))
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.mode in ("RGB", "L"):
                return raw, "jpg"
    image = obj.get_bitmap(render=False).to_pil()
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue(), "png"
