"""Which pages need OCR: the text layer is missing or useless.

With ``ocr=auto`` a page goes to OCR when it has no text but shows something (images or
vector drawing that may be outlined text), when most of it is one big image with little text
on top, or when its text is mostly unmapped glyphs (fonts without a Unicode map). A blank page
is left alone. ``always`` and ``never`` override.
"""

from __future__ import annotations

import re

from pdfq.domain import OcrMode
from pdfq.extract.page import visible_chars
from pdfq.extract.pdf import PageLayout

IMAGE_PAGE = 0.5  # share of the page covered by images above which it is a scan
SCANT_TEXT = 200  # characters: fewer than this on a scanned-looking page is no real text layer
UNMAPPED = 0.3  # share of unmapped glyphs above which the text layer is garbage
DRAWN = 200  # path objects on a page without text: maybe text drawn as outlines


_UNMAPPED = re.compile("[\ufffd\ue000-\uf8ff\x00-\x08\x0e-\x1f]")


def unmapped_share(text: str) -> float:
    """Share of the visible characters that are unmapped glyphs (private use, replacement,
    control characters), counted in C: this runs on every page."""
    if not _UNMAPPED.search(text):
        return 0.0
    visible = visible_chars(text)
    return len(_UNMAPPED.findall(text)) / visible if visible else 0.0


def ocr_reason(layout: PageLayout, mode: OcrMode) -> str | None:
    """Why the page needs OCR, or ``None`` to keep its text layer."""
    if mode == OcrMode.NEVER:
        return None
    if mode == OcrMode.ALWAYS:
        return "requested"
    chars = visible_chars(layout.text)
    area = max(layout.width * layout.height, 1.0)
    image_share = layout.drawing.image_area / area
    if chars == 0:
        if image_share > 0.01 or layout.drawing.paths > DRAWN:
            return "no text layer"
        return None
    if unmapped_share(layout.text) > UNMAPPED:
        return "unmapped glyphs"
    if image_share > IMAGE_PAGE and chars < SCANT_TEXT:
        return "mostly an image"
    return None
