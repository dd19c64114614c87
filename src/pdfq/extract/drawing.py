"""A page's vector graphics and images, read once: counts for the gates, edges for tables.

Path objects give rules (thin strokes or filled bars), rectangles (four edges) and grids
drawn as one path (their straight axis-aligned segments); images give the area they cover.
Raw pdfium calls, no wrapper object per item; form XObjects are entered (three levels) with
their matrices applied. Counting stops at ``_MAX_OBJECTS`` objects and edges at
``_MAX_EDGES`` (maps and charts), which the page records.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import partial
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfq.extract.page import Box, Drawing, Frame

_MAX_OBJECTS = 20_000
_MAX_EDGES = 3_000
_MAX_GRID_SEGMENTS = 4_000  # segments read from one path
_GRID_PROBE = 12  # segments read before a path without straight lines is given up
_THIN = 2.5  # points: a path this thin is a rule
_LONG = 8.0  # points: shorter strokes are not rules (glyph parts, ticks)

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


class _Walker:
    """Visits a page's objects and fills a :class:`Drawing`."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.width, self.height = frame.width, frame.height
        self.drawing = Drawing()
        self.seen = 0
        self._f = [ctypes.c_float() for _ in range(4)]
        self._refs = [ctypes.byref(v) for v in self._f]
        self._matrix = pdfium_c.FS_MATRIX()
        self._x, self._y = ctypes.c_float(), ctypes.c_float()

    def visit(self, count: int, get: Callable[[int], Any], depth: int, outer: Matrix) -> None:
        for i in range(count):
            self.seen += 1
            if self.seen > _MAX_OBJECTS:
                return
            obj = get(i)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                if depth < 3:
                    inner = _compose(self._object_matrix(obj), outer)
                    self.visit(
                        pdfium_c.FPDFFormObj_CountObjects(obj),
                        partial(pdfium_c.FPDFFormObj_GetObject, obj),
                        depth + 1,
                        inner,
                    )
                continue
            if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
                self.drawing.paths += 1
                self._path(obj, outer)
            elif kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                self._image(obj, outer)

    def _object_matrix(self, obj: Any) -> Matrix:
        m = self._matrix
        if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(m)):
            return _IDENTITY
        return (m.a, m.b, m.c, m.d, m.e, m.f)

    def _bounds(self, obj: Any, outer: Matrix) -> Box | None:
        """The object's box on the displayed page (its bounds moved by enclosing forms)."""
        f = self._f
        if not pdfium_c.FPDFPageObj_GetBounds(obj, *self._refs):
            return None
        left, bottom, right, top = (v.value for v in f)
        if outer != _IDENTITY:
            xs, ys = zip(
                *(_apply(outer, x, y) for x in (left, right) for y in (bottom, top)), strict=True
            )
            left, bottom, right, top = min(xs), min(ys), max(xs), max(ys)
        return self.frame.box(left, bottom, right, top)

    def _image(self, obj: Any, outer: Matrix) -> None:
        box = self._bounds(obj, outer)
        if box is None:
            return
        w = max(0.0, min(box[2], self.frame.width) - max(box[0], 0.0))
        h = max(0.0, min(box[3], self.frame.height) - max(box[1], 0.0))
        self.drawing.image_area += w * h

    def _edge(self, box: Box) -> None:
        edges = self.drawing.edges
        if len(edges) >= _MAX_EDGES:
            self.drawing.edges_capped = True
            return
        edges.append(box)

    def _visible(self, box: Box) -> bool:
        """Whether a box touches the visible page (crop marks and bleed lie outside)."""
        return box[2] >= 0 and box[3] >= 0 and box[0] <= self.width and box[1] <= self.height

    def _mostly_inside(self, box: Box) -> bool:
        x0, top, x1, bottom = box
        inside_w = min(x1, self.width) - max(x0, 0.0)
        inside_h = min(bottom, self.height) - max(top, 0.0)
        area = (x1 - x0) * (bottom - top)
        return inside_w > 0 and inside_h > 0 and inside_w * inside_h >= 0.9 * area

    def _path(self, obj: Any, outer: Matrix) -> None:
        box = self._bounds(obj, outer)
        if box is None or not self._visible(box):
            return
        x0, top, x1, bottom = box
        w, h = x1 - x0, bottom - top
        d = self.drawing
        if h <= _THIN and w >= _LONG:
            d.h_rules += 1
            middle = (top + bottom) / 2
            self._edge((x0, middle, x1, middle))
        elif w <= _THIN and h >= _LONG:
            d.v_rules += 1
            middle = (x0 + x1) / 2
            self._edge((middle, top, middle, bottom))
        elif w >= _LONG and h >= _LONG:
            if not self._mostly_inside(box):
                return  # a background or clip larger than the page: no table's frame
            d.boxes += 1
            segments = pdfium_c.FPDFPath_CountSegments(obj)
            if segments >= 12:  # maybe a whole grid drawn as one path
                if self._segments(obj, outer, min(segments, _MAX_GRID_SEGMENTS)):
                    d.grid_segments += segments
            elif segments <= 6:  # a rectangle: its four sides
                self._edge((x0, top, x1, top))
                self._edge((x0, bottom, x1, bottom))
                self._edge((x0, top, x0, bottom))
                self._edge((x1, top, x1, bottom))

    def _segments(self, obj: Any, outer: Matrix, count: int) -> bool:
        """Collect the straight horizontal and vertical pieces of one path inside the page;
        ``False`` (and nothing kept) when its first pieces show it is no grid there (curves
        of a logo or a glyph, crop marks outside the page)."""
        a, b, c, d, e, f = _compose(self._object_matrix(obj), outer)
        frame_point = self.frame.point
        get_segment = pdfium_c.FPDFPath_GetPathSegment
        get_point = pdfium_c.FPDFPathSegment_GetPoint
        get_type = pdfium_c.FPDFPathSegment_GetType
        get_close = pdfium_c.FPDFPathSegment_GetClose
        lineto, moveto = pdfium_c.FPDF_SEGMENT_LINETO, pdfium_c.FPDF_SEGMENT_MOVETO
        x, y = self._x, self._y
        x_ref, y_ref = ctypes.byref(x), ctypes.byref(y)
        found: list[Box] = []
        keep = self._keep_stroke
        previous: tuple[float, float] | None = None
        start: tuple[float, float] | None = None
        for i in range(count):
            if i == _GRID_PROBE and len(found) < _GRID_PROBE // 4:
                return False
            segment = get_segment(obj, i)
            if not segment or not get_point(segment, x_ref, y_ref):
                previous = None
                continue
            px, py = x.value, y.value
            point = frame_point(a * px + c * py + e, b * px + d * py + f)
            kind = get_type(segment)
            if kind == moveto or start is None:
                start = point
            elif kind == lineto and previous is not None:
                keep(previous, point, found)
            if get_close(segment):
                keep(point, start, found)  # closepath draws the last side of a box
            previous = point
        for edge in found:
            self._edge(edge)
        return bool(found)

    def _keep_stroke(
        self, a: tuple[float, float], b: tuple[float, float], found: list[Box]
    ) -> None:
        """Keep the stroke from ``a`` to ``b`` when it is a long horizontal or vertical line
        on the visible page."""
        (ax, ay), (bx, by) = a, b
        if abs(ay - by) <= 1 and abs(ax - bx) >= _LONG:
            middle = (ay + by) / 2
            box = (min(ax, bx), middle, max(ax, bx), middle)
        elif abs(ax - bx) <= 1 and abs(ay - by) >= _LONG:
            middle = (ax + bx) / 2
            box = (middle, min(ay, by), middle, max(ay, by))
        else:
            return
        if self._visible(box):
            found.append(box)


def read_drawing(page: pdfium.PdfPage, frame: Frame) -> Drawing:
    """Count rules, boxes and image area, and collect the edges tables are drawn with."""
    walker = _Walker(frame)
    walker.visit(
        pdfium_c.FPDFPage_CountObjects(page),
        partial(pdfium_c.FPDFPage_GetObject, page),
        0,
        _IDENTITY,
    )
    if walker.seen > _MAX_OBJECTS:
        walker.drawing.edges_capped = True
    return walker.drawing


__all__ = ["read_drawing"]
