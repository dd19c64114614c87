"""One page's text pieces from pdfium: runs of text on a baseline, with boxes and fonts.

pdfium's text (``FPDFText_GetText``) is cut at its own line breaks; each line is located by
the rectangles pdfium reports for its characters (one per text object), and its font from
two probe characters. A line whose rectangles leave a wide horizontal gap (two columns drawn
as one line, or table cells) is cut there into pieces, from its characters' boxes, so that
reading order (:mod:`pdfq.extract.order`) can put each piece in its column.

pdfium's text may skip or add characters relative to its character list (unmapped glyphs,
control characters): offsets are translated with ``FPDFText_GetCharIndexFromTextIndex``
instead of being assumed equal. Sizes never come out as a bare 0 when the glyph boxes give
a height.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import re
from functools import lru_cache

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfq.extract.page import Box, Frame, Line, clean_line, union

_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|extrabold|ultrabold", re.IGNORECASE)
_MONO_NAME = re.compile(r"mono|courier|consol|menlo|code|typewriter|fixed|\bcmtt|sfmono", re.I)
_FIXED_PITCH = 1  # FPDFText_GetFontInfo flags: bit 1 of the PDF font descriptor
_GAP = 0.9  # a horizontal gap wider than this many font sizes cuts a line into pieces
_MAX_SPLIT_CHARS = 4000  # a line this long is not cut (a page-wide run of glyphs)


@lru_cache(maxsize=1024)
def _font_style(name: bytes, weight: int, flags: int) -> tuple[bool, bool]:
    decoded = name.decode("latin-1")
    bold = weight >= 600 or bool(_BOLD_NAME.search(decoded))
    return bold, bool(flags & _FIXED_PITCH) or bool(_MONO_NAME.search(decoded))


class _FontProbe:
    """Font size, boldness and fixed pitch of a character, with reused output buffers."""

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(128)
        self._flags = ctypes.c_int()

    def __call__(self, textpage: pdfium.PdfTextPage, index: int) -> tuple[float, bool, bool]:
        size = float(pdfium_c.FPDFText_GetFontSize(textpage, index))
        self._buf.value = b""
        self._flags.value = 0
        pdfium_c.FPDFText_GetFontInfo(textpage, index, self._buf, 128, ctypes.byref(self._flags))
        weight = pdfium_c.FPDFText_GetFontWeight(textpage, index)
        bold, mono = _font_style(self._buf.value, weight, self._flags.value)
        return size, bold, mono


class _Reader:
    """Reads one text page; offsets, rectangles and character boxes through raw calls."""

    def __init__(self, textpage: pdfium.PdfTextPage, raw: str, frame: Frame) -> None:
        self.textpage = textpage
        self.raw = raw
        self.frame = frame
        self.chars = textpage.count_chars()
        self.same_offsets = len(raw) == self.chars
        self.probe = _FontProbe()
        self._d = [ctypes.c_double() for _ in range(4)]
        self._refs = [ctypes.byref(v) for v in self._d]
        self._matrix = pdfium_c.FS_MATRIX()

    def char_index(self, text_index: int) -> int:
        if self.same_offsets:
            return text_index
        return int(pdfium_c.FPDFText_GetCharIndexFromTextIndex(self.textpage, text_index))

    def text_index(self, char_index: int) -> int:
        if self.same_offsets:
            return char_index
        return int(pdfium_c.FPDFText_GetTextIndexFromCharIndex(self.textpage, char_index))

    def rects(self, first: int, count: int) -> list[Box]:
        """Display boxes of the runs of characters ``first`` to ``first + count``."""
        d = self._d
        left, top, right, bottom = self._refs
        boxes = []
        for i in range(pdfium_c.FPDFText_CountRects(self.textpage, first, count)):
            if pdfium_c.FPDFText_GetRect(self.textpage, i, left, top, right, bottom):
                boxes.append(self.frame.box(d[0].value, d[3].value, d[2].value, d[1].value))
        return boxes

    def char_at(self, box: Box) -> int:
        """The character at the start of a run's display box (-1 when none is there)."""
        x0, top, x1, bottom = box
        inside = (x0 + min(1.0, (x1 - x0) / 4), (top + bottom) / 2)
        x, y = self.frame.user_point(*inside)
        tolerance = max(1.0, (bottom - top) / 4)
        return int(pdfium_c.FPDFText_GetCharIndexAtPos(self.textpage, x, y, 1.0, tolerance))

    def char_box(self, index: int) -> Box | None:
        d = self._d
        left, right, bottom, top = self._refs
        if not pdfium_c.FPDFText_GetCharBox(self.textpage, index, left, right, bottom, top):
            return None
        if d[1].value - d[0].value <= 0 and d[3].value - d[2].value <= 0:
            return None  # a generated space or an invisible glyph
        return self.frame.box(d[0].value, d[2].value, d[1].value, d[3].value)

    def scale(self, index: int) -> float:
        """The vertical scale of a character's text matrix (1 when pdfium cannot tell)."""
        m = self._matrix
        if not pdfium_c.FPDFText_GetMatrix(self.textpage, index, ctypes.byref(m)):
            return 1.0
        return math.hypot(m.c, m.d) or 1.0

    def style(self, first: int, count: int, height: float) -> tuple[float, bool, bool]:
        """Size, bold and fixed pitch of a run, from its middle character."""
        index = first + count // 2
        size, bold, mono = self.probe(self.textpage, index)
        if 0 < size < height / 3:  # a small font scaled up by the text matrix
            size *= self.scale(index)
        if size <= 1.5 or size > 4 * max(height, 1.0):
            # Some producers scale a 1 pt font through the text matrix, or report nothing:
            # the glyph boxes' height is the best estimate left.
            size = max(height, 0.0)
        return round(size, 1), bold, mono


def _wide_gap(boxes: list[Box], size: float) -> bool:
    ordered = sorted(boxes)
    limit = max(size, 1.0) * _GAP
    return any(b[0] - a[2] > limit for a, b in itertools.pairwise(ordered))


def _line(text: str, boxes: list[Box], style: tuple[float, bool, bool]) -> Line:
    size, bold, mono = style
    if len(boxes) == 1:
        x0, top, x1, bottom = boxes[0]
        return Line(text, x0, x1, top, bottom, size, bold, (), mono=mono)
    x0, top, x1, bottom = union(boxes)
    segments = tuple(sorted((b[0], b[2]) for b in boxes))
    return Line(text, x0, x1, top, bottom, size, bold, segments, mono=mono)


def _split(
    reader: _Reader, first: int, count: int, boxes: list[Box], style: tuple[float, bool, bool]
) -> list[Line]:
    """Cut one pdfium line at its wide gaps. ``boxes`` are its runs in character order (one
    per text object); where two neighbours leave a wide gap, the character at the start of
    the second is found by position (one call), not by walking every character's box."""
    limit = max(style[0], 1.0) * _GAP
    groups: list[tuple[int, list[Box]]] = [(first, [boxes[0]])]  # first char, runs
    for box in boxes[1:]:
        last = groups[-1][1][-1]
        if max(box[0] - last[2], last[0] - box[2]) <= limit:  # either way: RTL too
            groups[-1][1].append(box)
            continue
        start = reader.char_at(box)
        if start <= groups[-1][0] or start >= first + count:
            return _split_by_chars(reader, first, count, style)  # overlapping runs
        groups.append((start, [box]))
    pieces = []
    ends = [start - 1 for start, _ in groups[1:]] + [first + count - 1]
    for (start, runs), end in zip(groups, ends, strict=True):
        piece = _piece(reader, start, end, runs)
        if piece is not None:
            pieces.append(piece)
    return pieces


def _piece(reader: _Reader, start: int, end: int, boxes: list[Box]) -> Line | None:
    low, high = reader.text_index(start), reader.text_index(end)
    if low < 0 or high < low:
        return None
    text = clean_line(reader.raw[low : high + 1])
    if not text:
        return None
    height = max(b[3] for b in boxes) - min(b[1] for b in boxes)
    return _line(text, [union(boxes)], reader.style(start, end - start + 1, height))


def _split_by_chars(
    reader: _Reader, first: int, count: int, style: tuple[float, bool, bool]
) -> list[Line]:
    """Cut one pdfium line at its wide gaps from every character's box (the slow way, for
    lines whose runs overlap or come out of order)."""
    limit = max(style[0], 1.0) * _GAP
    runs: list[tuple[int, int, list[Box]]] = []  # first char, last char, boxes
    for index in range(first, first + count):
        box = reader.char_box(index)
        if box is None:
            continue
        if runs:
            start, _, boxes = runs[-1]
            last = boxes[-1]
            if max(box[0] - last[2], last[0] - box[2]) <= limit:
                boxes.append(box)
                runs[-1] = (start, index, boxes)
                continue
        runs.append((index, index, [box]))
    return [p for start, end, boxes in runs if (p := _piece(reader, start, end, boxes))]


def read_pieces(textpage: pdfium.PdfTextPage, raw: str, frame: Frame) -> list[Line]:
    """The page's text pieces in pdfium's order (see the module's docstring)."""
    reader = _Reader(textpage, raw, frame)
    pieces: list[Line] = []
    offset = 0
    for part in raw.split("\r\n"):
        start, offset = offset, offset + len(part) + 2
        text = clean_line(part)
        if not text:
            continue
        lead = start + len(part) - len(part.lstrip())
        tail = start + len(part.rstrip()) - 1
        first, last = reader.char_index(lead), reader.char_index(tail)
        if first < 0 or last < first:
            continue  # pdfium cannot place these characters: they stay in the page's text
        count = last - first + 1
        boxes = reader.rects(first, count)
        if not boxes:
            continue
        height = max(b[3] for b in boxes) - min(b[1] for b in boxes)
        style = reader.style(first, count, height)
        if len(boxes) > 1 and count <= _MAX_SPLIT_CHARS and _wide_gap(boxes, style[0]):
            pieces.extend(_split(reader, first, count, boxes, style))
        else:
            pieces.append(_line(text, boxes, style))
    width, height = frame.width, frame.height
    # Text outside the visible page (printer's marks, line numbers in the bleed) is not read.
    return [p for p in pieces if p.x1 >= 0 and p.bottom >= 0 and p.x0 <= width and p.top <= height]


def page_frame(page: pdfium.PdfPage) -> Frame:
    """The page's frame: pdfium's bounding box and its rotation (0, 90, 180 or 270)."""
    left, bottom, right, top = page.get_bbox()
    rotation = page.get_rotation() % 360
    if right <= left or top <= bottom:  # a degenerate box: fall back to the page's size
        width, height = page.get_size()
        swap = rotation in (90, 270)
        left, bottom, right, top = (
            0.0,
            0.0,
            (height if swap else width),
            (width if swap else height),
        )
    return Frame(float(left), float(bottom), float(right), float(top), rotation)


__all__ = ["page_frame", "read_pieces"]
