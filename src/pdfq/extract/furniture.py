"""Page furniture: running headers and footers and page numbers, found across pages.

A line in the top or bottom band of a page is furniture when the same text, or the same
pattern with its numbers changed (``Chapter 3 · 41``), sits in the same band on enough of
the document's pages, or when it is a bare page number (``12``, ``Page 3 of 7``, ``- iv -``).
The pattern counts come from the pages read so far; :class:`Document` reads a few pages
ahead first, so the first pages are judged with what the next ones show. Furniture leaves
the Markdown and the text flow and is kept apart on the page, so nothing is lost.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pdfq.extract.page import Line, PageLayout

BAND = 0.1  # share of the page height at its top and bottom where furniture lives
_NUMBER = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013\u2014(\[]?\s*(?:\d{1,4}|(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3}))\s*[-\u2013\u2014)\]]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def _edges(layout: PageLayout) -> list[tuple[str, Line]]:
    """The page's outermost rows, in its top and bottom bands: where furniture can be. Only
    the outermost, so that body text reaching into a band (a table of figures, a list of
    numbered lines) is never taken for a running header."""
    lines = [ln for ln in layout.lines if ln.bottom > ln.top]
    height = layout.height
    if not lines or height <= 0:
        return []
    first = min(ln.top for ln in lines)
    last = max(ln.bottom for ln in lines)
    found = []
    for ln in lines:
        if ln.bottom <= height * BAND and ln.top <= first + 2:
            found.append(("top", ln))
        elif ln.top >= height * (1 - BAND) and ln.bottom >= last - 2:
            found.append(("bottom", ln))
    return found


def _pattern(text: str) -> str:
    return " ".join(_NUMBER.sub("#", text.casefold()).split())


def is_page_number(text: str) -> bool:
    return bool(_PAGE_NUMBER.match(text.strip()))


@dataclass(slots=True)
class Furniture:
    """Patterns of the band lines seen so far, and on how many pages each was seen."""

    pages: int = 0
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    def learn(self, layout: PageLayout) -> None:
        self.pages += 1
        self.seen.update({(band, _pattern(line.text)) for band, line in _edges(layout)})

    def find(self, layout: PageLayout) -> list[Line]:
        """The page's furniture lines."""
        return [line for band, line in _edges(layout) if self._is_furniture(band, line)]

    def _is_furniture(self, band: str, line: Line) -> bool:
        if is_page_number(line.text):
            return True
        # Seen on at least three pages, and on at least a third of those read: alternating
        # headers (the book's title on even pages, the chapter's on odd ones) count.
        count = self.seen[(band, _pattern(line.text))]
        return count >= 3 and count >= self.pages / 3


__all__ = ["Furniture", "is_page_number"]
