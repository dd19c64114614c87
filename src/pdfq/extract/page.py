"""What the text layer reader gives for one page: lines with boxes, drawing statistics, frame.

Every box is in the page as displayed: points from the top-left corner with the page's
``/Rotate`` applied, like pdfplumber's. :class:`Frame` maps pdfium's user-space boxes
(bottom-left origin, unrotated, possibly offset by the crop box) into that space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")

Box = tuple[float, float, float, float]
"""x0, top, x1, bottom in points from the displayed page's top-left corner."""


def visible_chars(text: str) -> int:
    """Characters that are not whitespace (counted in C: this runs on every page)."""
    return len(text) - sum(text.count(c) for c in " \n\t\r\x0b\x0c")


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding all of ``boxes`` (at least one)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _hyphens(text: str) -> str:
    # pdfium marks a hyphen where a word breaks at a line's end as U+0002, or as U+FFFE when
    # it joined the two lines into one: the hyphen was printed, so it is kept.
    return text.replace("\x02", "-").replace("\ufffe", "-")


def clean_line(text: str) -> str:
    """One line of pdfium text, cleaned as :func:`clean_text` does, with single spaces."""
    return " ".join(_CONTROL.sub("", _hyphens(text)).split())


def clean_text(text: str) -> str:
    """pdfium text → plain text: ``\\n`` line ends, no control characters, no trailing blanks."""
    text = _hyphens(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


@dataclass(frozen=True, slots=True)
class Frame:
    """The page's visible area (pdfium's bounding box) and its clockwise rotation."""

    left: float = 0.0
    bottom: float = 0.0
    right: float = 612.0
    top: float = 792.0
    rotation: int = 0

    @property
    def width(self) -> float:
        across = self.right - self.left
        return across if self.rotation in (0, 180) else self.top - self.bottom

    @property
    def height(self) -> float:
        down = self.top - self.bottom
        return down if self.rotation in (0, 180) else self.right - self.left

    def point(self, x: float, y: float) -> tuple[float, float]:
        """A user-space point on the displayed page (x from the left, y from the top)."""
        if self.rotation == 90:
            return y - self.bottom, x - self.left
        if self.rotation == 180:
            return self.right - x, y - self.bottom
        if self.rotation == 270:
            return self.top - y, self.right - x
        return x - self.left, self.top - y

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        """A user-space rectangle on the displayed page."""
        if self.rotation == 0:  # the common case, on every line of every page
            return left - self.left, self.top - top, right - self.left, self.top - bottom
        ax, ay = self.point(left, bottom)
        bx, by = self.point(right, top)
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)

    def user_point(self, x: float, y: float) -> tuple[float, float]:
        """The inverse of :meth:`point`."""
        if self.rotation == 90:
            return y + self.left, x + self.bottom
        if self.rotation == 180:
            return self.right - x, y + self.bottom
        if self.rotation == 270:
            return self.right - y, self.top - x
        return x + self.left, self.top - y

    def unbox(self, box: Box) -> tuple[float, float, float, float]:
        """A displayed box as a user-space rectangle: (left, bottom, right, top)."""
        ax, ay = self.user_point(box[0], box[1])
        bx, by = self.user_point(box[2], box[3])
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


@dataclass(slots=True)
class Line:
    """One run of text on one baseline with its box, dominant font size and weight.

    The text layer reader gives *pieces*: runs without a wide horizontal gap inside, so two
    columns drawn as one line arrive as two pieces; reading order joins the pieces of one
    column's line again. ``segments`` are the horizontal extents of the runs of a line, in
    order; wide gaps between them hint at table columns. ``size`` may be 0 when neither the
    font nor the glyph boxes tell it: never divide by it.
    """

    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    segments: tuple[tuple[float, float], ...] = ()
    confidence: float | None = None
    """OCR lines: the engine's confidence, 0 to 1."""
    mono: bool = False
    """Set in a fixed-pitch font."""

    def column_gaps(self) -> int:
        """How many wide horizontal gaps split this line (a hint of table columns)."""
        wide = max(self.size, self.bottom - self.top, 1.0) * 1.2
        return sum(
            1
            for (_, right), (left, _) in zip(self.segments, self.segments[1:], strict=False)
            if left - right > wide
        )


@dataclass(slots=True)
class Drawing:
    """Vector graphics and images on a page: counts, and the straight edges tables are made of.

    ``edges`` are horizontal (``top == bottom``) and vertical (``x0 == x1``) strokes and the
    sides of rectangles, in display coordinates, up to a cap (``edges_capped`` says when
    more were drawn).
    """

    h_rules: int = 0
    v_rules: int = 0
    boxes: int = 0
    grid_segments: int = 0
    image_area: float = 0.0
    paths: int = 0
    edges: list[Box] = field(default_factory=list)
    edges_capped: bool = False


@dataclass(slots=True)
class PageLayout:
    number: int
    width: float
    height: float
    text: str
    lines: list[Line] = field(default_factory=list)
    drawing: Drawing = field(default_factory=Drawing)
    warnings: list[str] = field(default_factory=list)
    """What could not be read (the page goes on with the rest)."""
    pieces: list[Line] = field(default_factory=list)
    """The text pieces the lines were joined from (table cells are read from them)."""

    @property
    def char_count(self) -> int:
        return sum(1 for c in self.text if not c.isspace())


__all__ = [
    "Box",
    "Drawing",
    "Frame",
    "Line",
    "PageLayout",
    "clean_line",
    "clean_text",
    "union",
    "visible_chars",
]
