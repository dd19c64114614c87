"""Pages to images for OCR: pdfium renders straight into an 8-bit grey bitmap.

Rendering into pdfium's grey pixel format costs a third of rendering with its ``grayscale``
flag or in colour (47 ms instead of 134 ms for an A4 page at 300 dpi, measured here), and OCR
engines want grey anyway. A page too large for ``max_pixels`` at the asked resolution is
rendered at a lower one, so a poster-sized page cannot exhaust a worker's memory.
No deskewing or binarisation: Tesseract binarises itself and reads the test set's pages,
skewed by up to 1.5°, at the error rates in docs/benchmarks.md without help.
"""

from __future__ import annotations

import math

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from pdfq.extract.pdf import open_page


def render_scale(width: float, height: float, *, dpi: int, max_pixels: int) -> float:
    """Pixels per PDF unit for a page of ``width`` by ``height`` points."""
    scale = dpi / 72
    pixels = width * height * scale * scale
    if pixels > max_pixels:
        scale *= math.sqrt(max_pixels / pixels)
    return scale


def render_page(doc: pdfium.PdfDocument, number: int, *, dpi: int, max_pixels: int) -> Image.Image:
    """Page ``number`` (1-based) as a grey image; ``image.info["dpi"]`` holds its resolution."""
    with open_page(doc, number) as page:
        width, height = page.get_size()
        scale = render_scale(width, height, dpi=dpi, max_pixels=max_pixels)
        bitmap = page.render(
            scale=scale, may_draw_forms=False, force_bitmap_format=pdfium_c.FPDFBitmap_Gray
        )
        image: Image.Image = bitmap.to_pil()
    resolution = round(scale * 72)
    image.info["dpi"] = (resolution, resolution)
    return image
