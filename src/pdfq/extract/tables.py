"""Table detection on pdfium's own objects, run only on pages that look tabular.

The page's edges (ruling lines and rectangle sides, read with the drawing) or, without
rules, the column-aligned runs of its lines become pdfplumber's table geometry (its
``merge_edges`` → intersections → cells → tables, the Nurminen/Tabula method) and each cell's
text comes from pdfium (``FPDFText_GetBoundedText`` on the cell). pdfplumber's own page
parsing (pdfminer, pure Python and ~50 times slower than pdfium) is never run. Clean text pages
never get here; a page with more rules than a table needs (maps, charts) is skipped with
a warning instead of searched.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pdfq.domain import Table
from pdfq.extract.page import Box, Frame, Line, PageLayout, union

Strategy = Literal["lines", "text"]

_MIN_COLUMN_LINES = 3  # consecutive lines with aligned column gaps that suggest a table
_MAX_CROSSINGS = 250_000  # horizontal times vertical edges searched for intersections
_TOLERANCE = 3.0  # points: pdfplumber's snap, join and intersection tolerance
_PROSE_PIECE = 40  # characters: cells this long on average are prose in columns
_PROSE_SHARE = 0.6  # a row whose widest run spans this share of it is a line of prose
_FRAME_CELL = 300  # characters: a cell this long is running text in a frame


def column_block(lines: list[Line]) -> tuple[float, float, float, float] | None:
    """The box (x0, top, x1, bottom) of the first run of lines that look like table rows."""
    run: list[Line] = []
    for line in [*lines, None]:
        if line is not None and line.column_gaps() >= 1:
            if run and line.top - run[-1].bottom > 3 * max(line.size, 1.0):
                run = []
            run.append(line)
            continue
        if len(run) >= _MIN_COLUMN_LINES and _columns_align(run) and not _prose(run):
            return (
                min(r.x0 for r in run) - 2,
                min(r.top for r in run) - 2,
                max(r.x1 for r in run) + 2,
                max(r.bottom for r in run) + 2,
            )
        run = []
    return None


def _columns_align(run: list[Line]) -> bool:
    # At least two column starts (beyond the first) shared by most rows.
    starts: dict[int, int] = {}
    for line in run:
        for left, _ in line.segments[1:]:
            key = round(left / 4)
            starts[key] = starts.get(key, 0) + 1
    shared = [k for k, n in starts.items() if n >= max(2, len(run) * 0.6)]
    return len(shared) >= 1


def _prose(run: list[Line]) -> bool:
    """Lines whose runs are long sentences, or that are mostly one wide run (prose beside
    line numbers or marginal notes), are text set in columns, not table rows."""
    cells = sum(max(len(line.segments), 1) for line in run)
    if sum(len(line.text) for line in run) / cells > _PROSE_PIECE:
        return True
    widest = [
        max((right - left for left, right in line.segments), default=0.0)
        / max(line.x1 - line.x0, 1.0)
        for line in run
    ]
    return sorted(widest)[len(widest) // 2] > _PROSE_SHARE


def table_strategy(layout: PageLayout) -> Strategy | None:
    """Which strategy a page deserves, or ``None`` when it shows no table."""
    d = layout.drawing
    if not layout.text:
        return None
    if (d.h_rules >= 2 and d.v_rules >= 2) or d.h_rules >= 3 or d.grid_segments or d.boxes >= 4:
        return "lines"
    if column_block(layout.lines) is not None:
        return "text"
    return None


def clean_rows(rows: list[list[str | None]]) -> list[list[str]]:
    """Cells as single-line strings; empty rows and columns dropped."""
    cells = [[" ".join((c or "").split()) for c in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return []
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    keep = [i for i in range(width) if any(r[i] for r in cells)]
    return [[r[i] for i in keep] for r in cells]


def _half_points(box: Box) -> Box:
    x0, top, x1, bottom = (round(v * 2) / 2 for v in box)
    return x0, top, x1, bottom


def _edge(box: Box) -> dict[str, Any]:
    x0, top, x1, bottom = box
    horizontal = bottom - top <= x1 - x0
    return {
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "doctop": top,
        "width": x1 - x0,
        "height": bottom - top,
        "orientation": "h" if horizontal else "v",
        "object_type": "line",
    }


def _word(line: Line, x0: float, x1: float) -> dict[str, Any]:
    return {"x0": x0, "x1": x1, "top": line.top, "bottom": line.bottom, "doctop": line.top}


def _text_edges(lines: list[Line], box: Box) -> list[dict[str, Any]]:
    """Imaginary rules from the aligned runs of the lines inside ``box`` (pdfplumber's text
    strategy: columns where at least three runs share a left, right or centre line)."""
    from pdfplumber.table import words_to_edges_h, words_to_edges_v

    x0, top, x1, bottom = box
    words = []
    for line in lines:
        if line.top < top or line.bottom > bottom or line.x0 < x0 or line.x1 > x1:
            continue
        for left, right in line.segments or ((line.x0, line.x1),):
            words.append(_word(line, left, right))
    edges: list[dict[str, Any]] = words_to_edges_v(words, 3) + words_to_edges_h(words, 1)
    return edges


@dataclass(slots=True)
class FoundTables:
    tables: list[Table] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _cells(edges: list[dict[str, Any]]) -> tuple[list[list[list[Box | None]]], str | None]:
    """Tables as rows of cell boxes (``None``: a spanned cell), or why none were searched."""
    from pdfplumber.table import (
        Table as Grid,
    )
    from pdfplumber.table import (
        cells_to_tables,
        edges_to_intersections,
        merge_edges,
    )
    from pdfplumber.utils.geometry import filter_edges

    t = _TOLERANCE
    merged = filter_edges(merge_edges(edges, t, t, t, t), min_length=3)
    horizontal = sum(1 for e in merged if e["orientation"] == "h")
    if horizontal * (len(merged) - horizontal) > _MAX_CROSSINGS:
        return [], f"tables not searched: the page draws {len(merged)} ruling lines"
    cells = _intersections_to_cells(edges_to_intersections(merged, t, t))
    grids = [Grid(None, group) for group in cells_to_tables(cells)]  # type: ignore[arg-type]
    return [[list(row.cells) for row in grid.rows] for grid in grids], None


def _intersections_to_cells(intersections: dict[Any, dict[str, list[Any]]]) -> list[Box]:
    """pdfplumber's ``intersections_to_cells``, same cells in the same order, with each point's
    edges taken as sets once (pdfplumber rebuilds them for every pair it compares: most of
    its time on a chart's grid of a few hundred crossings)."""
    from pdfplumber.utils.geometry import obj_to_bbox

    def edge_set(edges: list[Any]) -> frozenset[Any]:
        return frozenset(map(obj_to_bbox, edges))

    vertical = {p: edge_set(e["v"]) for p, e in intersections.items()}
    horizontal = {p: edge_set(e["h"]) for p, e in intersections.items()}
    by_x: dict[float, list[tuple[float, float]]] = {}
    by_y: dict[float, list[tuple[float, float]]] = {}
    for point in sorted(intersections):
        by_x.setdefault(point[0], []).append(point)
        by_y.setdefault(point[1], []).append(point)
    cells: list[Box] = []
    for point in sorted(intersections):
        x, y = point
        below = [q for q in by_x[x] if q[1] > y]
        right = [q for q in by_y[y] if q[0] > x]
        cell = _smallest_cell(point, below, right, vertical, horizontal)
        if cell is not None:
            cells.append(cell)
    return cells


def _smallest_cell(
    point: tuple[float, float],
    below: list[tuple[float, float]],
    right: list[tuple[float, float]],
    vertical: dict[Any, frozenset[Any]],
    horizontal: dict[Any, frozenset[Any]],
) -> Box | None:
    for down in below:
        if not vertical[point] & vertical[down]:
            continue
        for across in right:
            if not horizontal[point] & horizontal[across]:
                continue
            corner = (across[0], down[1])
            if (
                corner in vertical
                and vertical[corner] & vertical[across]
                and horizontal[corner] & horizontal[down]
            ):
                return (point[0], point[1], corner[0], corner[1])
    return None


class _CellText:
    """A cell's text from pdfium: the characters whose centre is in the cell. Ruled cells are
    read with a small inset (glyphs touching a rule belong to the next cell); cells found
    from text alignment are not, their sides lie on the glyphs themselves."""

    def __init__(self, textpage: pdfium.PdfTextPage, frame: Frame, *, inset: bool) -> None:
        self.textpage = textpage
        self.frame = frame
        self.inset = inset

    def __call__(self, box: Box) -> str:
        x0, top, x1, bottom = box
        inset_x = min(1.5, (x1 - x0) / 4) if self.inset else 0.0
        inset_y = min(1.0, (bottom - top) / 4) if self.inset else 0.0
        left, low, right, high = self.frame.unbox(
            (x0 + inset_x, top + inset_y, x1 - inset_x, bottom - inset_y)
        )
        args = (self.textpage, left, high, right, low)
        count = pdfium_c.FPDFText_GetBoundedText(*args, None, 0)
        if count <= 0:
            return ""
        buffer = (ctypes.c_ushort * count)()
        pdfium_c.FPDFText_GetBoundedText(*args, buffer, count)
        return bytes(buffer).decode("utf-16-le", errors="ignore").replace("\x00", "")


def find_tables(layout: PageLayout, textpage: pdfium.PdfTextPage, frame: Frame) -> FoundTables:
    """The page's tables (read from its loaded text page), and why some were not searched."""
    strategy = table_strategy(layout)
    if strategy is None:
        return FoundTables()
    if strategy == "lines":
        if layout.drawing.edges_capped:
            return FoundTables(warnings=["tables not searched: the page draws too many objects"])
        # Cells drawn as rectangles share their sides: each distinct side is searched once.
        distinct = {_half_points(box) for box in layout.drawing.edges}
        edges = [_edge(box) for box in sorted(distinct)]
    else:
        box = column_block(layout.lines)
        assert box is not None
        edges = _text_edges(layout.lines, box)
    grids, problem = _cells(edges)
    if problem is not None:
        return FoundTables(warnings=[problem])
    if not grids:
        return FoundTables()
    cell_text = _CellText(textpage, frame, inset=strategy == "lines")
    return FoundTables(_fill(grids, strategy, layout.pieces, cell_text))


def _grid_text(
    grid: list[list[Box | None]], pieces: list[Line], text_of: _CellText
) -> list[list[str | None]]:
    """Each cell's text: the pieces whose centre is in it, top to bottom and left to right.
    A cell that a piece overhangs (text running across a rule) is read by pdfium instead,
    character by character, as is every cell when no piece lies in the grid."""
    inside: dict[tuple[int, int], list[Line]] = {}
    overhung: set[tuple[int, int]] = set()
    bands = [
        (min(c[1] for c in row if c), max(c[3] for c in row if c)) if any(row) else (0.0, -1.0)
        for row in grid
    ]
    for piece in pieces:
        cx, cy = (piece.x0 + piece.x1) / 2, (piece.top + piece.bottom) / 2
        r = next((i for i, (top, bottom) in enumerate(bands) if top <= cy < bottom), None)
        if r is None:
            continue
        c = next((j for j, cell in enumerate(grid[r]) if cell and cell[0] <= cx < cell[2]), None)
        if c is None:
            continue
        cell = grid[r][c]
        assert cell is not None
        inside.setdefault((r, c), []).append(piece)
        if piece.x0 < cell[0] - 1 or piece.x1 > cell[2] + 1:
            overhung.add((r, c))
    text: list[list[str | None]] = []
    for r, row in enumerate(grid):
        text.append([])
        for c, cell in enumerate(row):
            if cell is None:
                text[-1].append(None)
            elif not pieces or (r, c) in overhung:
                text[-1].append(text_of(cell))
            else:
                found = sorted(inside.get((r, c), []), key=lambda p: (round(p.top), p.x0))
                text[-1].append(" ".join(p.text for p in found))
    return text


def _fill(
    grids: Sequence[list[list[Box | None]]],
    strategy: Strategy,
    pieces: list[Line],
    text_of: _CellText,
) -> list[Table]:
    tables = []
    for grid in grids:
        x0, top, x1, bottom = union([cell for row in grid for cell in row if cell is not None])
        near = [p for p in pieces if p.x1 > x0 and p.x0 < x1 and p.bottom > top and p.top < bottom]
        rows = clean_rows(_grid_text(grid, near, text_of))
        if len(rows) >= 2 and len(rows[0]) >= 2 and not _not_a_table(rows, strategy):
            bbox = (round(x0, 2), round(top, 2), round(x1, 2), round(bottom, 2))
            tables.append(Table(rows=rows, bbox=bbox))
    return tables


def _not_a_table(rows: list[list[str]], strategy: Strategy) -> bool:
    """Grids that hold something else: a frame or figure boxes around running text (a cell
    of several sentences, or mostly empty cells), or, found from text alignment alone, cells
    that are sentences (prose set in columns)."""
    cells = [c for row in rows for c in row]
    filled = [c for c in cells if c]
    if not filled or max(len(c) for c in filled) > _FRAME_CELL:
        return True
    if len(filled) < len(cells) / 2 and len(cells) <= 6:
        return True
    if strategy != "text":
        return False
    columns = [[row[i] for row in rows if row[i]] for i in range(len(rows[0]))]
    longest = max(sorted(len(c) for c in column)[len(column) // 2] for column in columns if column)
    return longest > _PROSE_PIECE


__all__ = ["FoundTables", "clean_rows", "column_block", "find_tables", "table_strategy"]
