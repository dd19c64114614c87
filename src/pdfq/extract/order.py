"""Reading order of a page's text pieces from their geometry, not from the content stream.

Generated two-column PDFs often draw each text line across both columns, so content-stream
order interleaves the columns. The text reader splits physical lines into *pieces* at wide
gaps; :func:`reading_order` orders the pieces and re-joins those of one line of one column.

The approach is a recursive XY-cut (Nagy & Seth) that cuts only at column gutters: pieces
form rows (boxes overlapping vertically); a sweep down the rows finds gutters (x intervals
free over a run of rows); each gutter that separates columns splits its run into left and
right, read after the rows above, and each part is ordered alike. Rows never cut become
one line each, so single-column pages, tables and forms keep their rows.

A gutter separates columns over a run of 3+ rows (lengths in line heights, the median
piece height) when, of the lines next to it on each side:

- both sides are prose: at least 3 and at least half are full (3+ words, 70% of the side's
  width), the side is 6+ wide and its lines fill a third of its height. Table cells and
  key/value lines are short or ragged, so they stay rows; or
- one side is prose and the other text 6+ wide (code, a list), across a gutter of 2.5+; or
- one side is prose 20+ wide (a main column) and the other a sidebar: 3+ lines, 4+ wide
  (wider than list or line numbers), filling a third of its height, not mostly ``Key:`` labels.
  A sidebar can't be told from a narrow column, so it is read like one: a left sidebar as
  a unit before the main text, a right one after it.

A blank band of 1.75 line heights ends every gutter, so running headers and footers are not
swallowed by the columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

from pdfq.extract.page import Line

_MIN_RUN = 3  # rows, and lines on each side, before a gutter can separate columns
_FULL = 0.7  # share of its side's width a full prose line spans
_PROSE_WIDTH = 6.0  # line heights: the narrowest prose column
_MAIN_WIDTH = 20.0  # line heights: the narrowest main column beside a sidebar
_SIDEBAR_WIDTH = 4.0  # line heights: wider than list numbers and margin line numbers
_ALIGN = 3.0  # line heights: left edges this close belong to one column (indents)
_GUTTER = 0.8  # line heights: the narrowest gutter (word spaces are about a quarter)
_WIDE_GUTTER = 2.5  # line heights: a gutter this wide may have prose on one side only
_BREAK = 1.75  # line heights: a blank band this tall ends every gutter
_MAX_COLUMNS = 8  # gutter positions a document remembers
_MAX_DEPTH = 32  # cuts nested deeper stay rows (bounds recursion on freak pages)


@dataclass(slots=True)
class _Row:
    pieces: list[Line]  # left to right
    top: float
    bottom: float


@dataclass(slots=True)
class _Gutter:
    x0: float
    x1: float
    start: int  # the gutter is free in rows[start:end]
    end: int


def reading_order(
    pieces: Sequence[Line], width: float, height: float, columns: list[float] | None = None
) -> list[Line]:
    """The page's lines in reading order, from its pieces in content-stream order.

    Pieces on one row (boxes overlapping by half the smaller height) and one side of every
    column cut are merged into one line, left to right; a lone piece comes back as it is.
    Pieces without a usable box (empty, inverted or not finite) are kept unmerged, each
    after the line holding the located piece before it in the input. ``width`` and
    ``height`` (the page) only cap the line-height unit on broken files.

    ``columns`` remembers, across the pages of one document, where gutters were proven (their
    middles, in points from the left): a run of rows whose gutter lies there is cut even where
    its sides alone would not prove columns (code beside code). New ones are added to it.
    """
    located = [p for p in pieces if _located(p)]
    if not located:
        return list(pieces)
    unit = median(p.bottom - p.top for p in located)
    page = max(width, height)
    if math.isfinite(page) and page > 0:
        unit = min(unit, page / 20)  # absurd boxes on broken files must not disable cuts
    cut = _Cut(unit, {id(p): i for i, p in enumerate(pieces)}, [] if columns is None else columns)
    return _place_unlocated(pieces, _order(located, cut, 0))


def _located(p: Line) -> bool:
    coords = (p.x0, p.x1, p.top, p.bottom)
    return all(math.isfinite(c) for c in coords) and p.x1 > p.x0 and p.bottom > p.top


@dataclass(slots=True)
class _Cut:
    """What every cut of one page shares: the unit, the input order, the document's gutters."""

    unit: float
    stream: dict[int, int]
    """Each piece's place in the content stream (by ``id``)."""
    columns: list[float]


def _order(pieces: list[Line], cut: _Cut, depth: int) -> list[list[Line]]:
    """Pieces grouped into output lines, in reading order."""
    rows = _rows(pieces)
    gutters = _column_gutters(rows, cut) if depth < _MAX_DEPTH else []
    if not gutters:
        return [row.pieces for row in rows]
    parts: list[list[Line]] = []
    done = 0
    for g in gutters:  # top to bottom: the rows above, then the run's left and right sides
        run = [p for row in rows[g.start : g.end] for p in row.pieces]
        parts.append([p for row in rows[done : g.start] for p in row.pieces])
        parts.append([p for p in run if p.x1 <= g.x0])
        parts.append([p for p in run if p.x1 > g.x0])
        done = g.end
    parts.append([p for row in rows[done:] for p in row.pieces])
    return [line for part in parts if part for line in _order(part, cut, depth + 1)]


def _rows(pieces: list[Line]) -> list[_Row]:
    """Physical lines: pieces whose boxes overlap by half the smaller height, top to bottom.

    A piece is compared with the row's tallest piece, not with the row's growing band, so
    two columns with offset baselines don't chain into one row, while superscripts and
    bigger words still join their line.
    """
    groups: list[list[Line]] = []
    core: Line | None = None
    for p in sorted(pieces, key=lambda p: (p.top + p.bottom, p.x0)):
        height = p.bottom - p.top
        if core is not None:
            overlap = min(p.bottom, core.bottom) - max(p.top, core.top)
            if overlap >= 0.5 * min(height, core.bottom - core.top):
                groups[-1].append(p)
                core = p if height > core.bottom - core.top else core
                continue
        groups.append([p])
        core = p
    for group in groups:
        group.sort(key=lambda p: p.x0)
    return [_Row(g, min(p.top for p in g), max(p.bottom for p in g)) for g in groups]


def _covered(rows: list[_Row], i: int) -> list[tuple[float, float]]:
    """The x intervals under the pieces crossing row ``i``'s band, merged, left to right.

    Pieces of the rows next to it count when they reach into the band: columns whose
    baselines are offset put their lines in alternate rows, and the gutter between them
    only shows in the slice of the page that the band cuts.
    """
    row = rows[i]
    near = [p for r in rows[max(i - 1, 0) : i + 2] if r is not row for p in r.pieces]
    pieces = row.pieces + [p for p in near if p.top < row.bottom and row.top < p.bottom]
    covered: list[tuple[float, float]] = []
    for p in sorted(pieces, key=lambda p: p.x0):
        if covered and p.x0 <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], p.x1))
        else:
            covered.append((p.x0, p.x1))
    return covered


def _column_gutters(rows: list[_Row], cut: _Cut) -> list[_Gutter]:
    """Gutters that separate columns, on runs of rows that don't overlap, top to bottom.

    Taller runs win over those they overlap (then topmost, then leftmost: of three columns
    the left gutter is cut first, the right one when the right side is ordered).

    One sweep down the rows: a gutter opens at a gap between two pieces of a row, narrows
    to the free space of each following row, and closes when less than a gutter is left.
    """
    unit = cut.unit
    closed: list[_Gutter] = []
    open_: list[_Gutter] = []
    for i, row in enumerate(rows):
        covered = _covered(rows, i)
        if i and row.top - rows[i - 1].bottom >= _BREAK * unit:
            closed += open_
            open_ = []
        still: list[_Gutter] = []
        for g in open_:
            free = _widest_free(covered, g.x0, g.x1)
            if free[1] - free[0] >= _GUTTER * unit:
                g.x0, g.x1, g.end = free[0], free[1], i + 1
                still.append(g)
            else:
                closed.append(g)
        for (_, gap0), (gap1, _) in pairwise(covered):
            if gap1 - gap0 >= _GUTTER * unit and not any(
                g.x0 < gap1 and gap0 < g.x1 for g in still
            ):
                still.append(_Gutter(gap0, gap1, i, i + 1))
        open_ = still
    runs = [g for g in closed + open_ if g.end - g.start >= _MIN_RUN]
    found = [g for g in runs if _separates(rows[g.start : g.end], g, unit)]
    for g in found:
        middle = (g.x0 + g.x1) / 2
        if len(cut.columns) < _MAX_COLUMNS and all(abs(middle - x) > unit for x in cut.columns):
            cut.columns.append(middle)
    # A document keeps its columns: a run whose gutter lies where a proven one does (code or
    # a list beside code, below or after the prose that proved it) is cut there too, and so
    # is a wide gutter the file itself reads column by column (its content stream draws one
    # side, then the other: a table or form drawn row by row alternates).
    found += [
        g
        for g in runs
        if g not in found
        and (
            any(g.x0 <= x <= g.x1 for x in cut.columns)
            or _drawn_by_columns(rows[g.start : g.end], g, cut)
        )
    ]
    found = [_extend(rows, g, unit) for g in found]
    chosen: list[_Gutter] = []
    for g in sorted(found, key=lambda g: (g.start - g.end, g.start, g.x0)):
        if all(g.end <= c.start or c.end <= g.start for c in chosen):
            chosen.append(g)
    return _join_stacked(rows, sorted(chosen, key=lambda g: g.start), unit)


def _join_stacked(rows: list[_Row], gutters: list[_Gutter], unit: float) -> list[_Gutter]:
    """Gutters one above the other at the same place are one: columns whose paragraph gaps
    happen to line up are still read down the whole page, unless a row crosses between."""
    joined: list[_Gutter] = []
    for g in gutters:
        last = joined[-1] if joined else None
        if last is not None:
            x0, x1 = max(last.x0, g.x0), min(last.x1, g.x1)
            between = [p for r in rows[last.end : g.start] for p in r.pieces]
            if x1 - x0 >= _GUTTER * unit and all(p.x1 <= x0 or p.x0 >= x1 for p in between):
                last.x0, last.x1, last.end = x0, x1, g.end
                continue
        joined.append(g)
    return joined


def _drawn_by_columns(rows: list[_Row], g: _Gutter, cut: _Cut) -> bool:
    """A wide gutter with text on both sides that the content stream crosses once."""
    if g.x1 - g.x0 < _WIDE_GUTTER * cut.unit:
        return False
    sides = [
        (cut.stream[id(p)], p.x0 >= g.x1)
        for r in rows
        for p in r.pieces
        if p.x1 <= g.x0 or p.x0 >= g.x1
    ]
    right = sum(1 for _, is_right in sides if is_right)
    if right < _MIN_RUN or len(sides) - right < _MIN_RUN:
        return False
    order = [is_right for _, is_right in sorted(sides)]
    return sum(1 for a, b in pairwise(order) if a != b) <= 1


def _extend(rows: list[_Row], g: _Gutter, unit: float) -> _Gutter:
    """The gutter grown over the rows above and below it whose pieces keep clear of it.

    A gutter opens at a row with pieces on both sides, but one column may start higher
    (the other opens with a figure) or end lower than the other.
    """

    def joins(i: int, j: int) -> bool:  # rows[i] joins across the band to its neighbour j
        near = rows[max(i, j)].top - rows[min(i, j)].bottom < _BREAK * unit
        return near and all(p.x1 <= g.x0 or p.x0 >= g.x1 for p in rows[i].pieces)

    while g.start > 0 and joins(g.start - 1, g.start):
        g.start -= 1
    while g.end < len(rows) and joins(g.end, g.end - 1):
        g.end += 1
    return g


def _widest_free(covered: list[tuple[float, float]], x0: float, x1: float) -> tuple[float, float]:
    """The widest part of ``x0..x1`` not under a piece (zero width when there is none)."""
    best, lo = (x0, x0), x0
    for a, b in covered:
        if a >= x1:
            break
        if a > lo and a - lo > best[1] - best[0]:
            best = (lo, a)
        lo = max(lo, b)
    return (lo, x1) if x1 - lo > best[1] - best[0] else best


def _separates(rows: list[_Row], g: _Gutter, unit: float) -> bool:
    """Whether the lines on either side of the gutter are columns (or sidebar and main)."""
    left = [q[-1] for r in rows if (q := [p for p in r.pieces if p.x1 <= g.x0])]
    right = [q[0] for r in rows if (q := [p for p in r.pieces if p.x0 >= g.x1])]
    left, right = _side(left, unit, right=False), _side(right, unit, right=True)
    if _is_prose(left, unit, _PROSE_WIDTH) and _is_prose(right, unit, _PROSE_WIDTH):
        return True
    # Prose beside a column of code or a list, across a gutter as wide as typesetters leave
    # between columns: a table's columns are closer, or their cells short on both sides.
    if g.x1 - g.x0 >= _WIDE_GUTTER * unit and (
        (_is_prose(left, unit, _PROSE_WIDTH) and _is_text(right, unit, _PROSE_WIDTH))
        or (_is_text(left, unit, _PROSE_WIDTH) and _is_prose(right, unit, _PROSE_WIDTH))
    ):
        return True
    return (_is_prose(left, unit, _MAIN_WIDTH) and _is_sidebar(right, unit)) or (
        _is_sidebar(left, unit) and _is_prose(right, unit, _MAIN_WIDTH)
    )


def _side(nearest: list[Line], unit: float, right: bool) -> list[Line]:
    """Of each row's piece nearest the gutter, those of the column next to it.

    Where a row lacks that column's line (offset baselines) its nearest piece belongs to a
    column farther out: left edges are clustered, and the cluster nearest the gutter that
    holds at least a third of the pieces is the column next to it.
    """
    clusters: list[list[Line]] = []
    for p in sorted(nearest, key=lambda p: p.x0, reverse=not right):  # nearest first
        if not clusters or abs(p.x0 - clusters[-1][-1].x0) > _ALIGN * unit:
            clusters.append([])
        clusters[-1].append(p)
    return next((c for c in clusters if 3 * len(c) >= len(nearest)), [])


def _is_text(lines: list[Line], unit: float, min_width: float) -> bool:
    """At least 3 lines, filling a third of the height they span (headings and paragraph
    gaps leave the rest), on a wide enough side."""
    if len(lines) < _MIN_RUN or _span(lines) < min_width * unit:
        return False
    height = max(p.bottom for p in lines) - min(p.top for p in lines)
    return 3 * sum(p.bottom - p.top for p in lines) >= height


def _is_prose(lines: list[Line], unit: float, min_width: float) -> bool:
    if not _is_text(lines, unit, min_width):
        return False
    span = _span(lines)
    full = sum(1 for p in lines if p.x1 - p.x0 >= _FULL * span and len(p.text.split()) >= 3)
    return full >= _MIN_RUN and 2 * full >= len(lines)


def _is_sidebar(lines: list[Line], unit: float) -> bool:
    """Text that is not a column of ``Key:`` labels (those belong to their row's value)."""
    labels = sum(1 for p in lines if p.text.rstrip().endswith(":"))
    return _is_text(lines, unit, _SIDEBAR_WIDTH) and 2 * labels < len(lines)


def _span(lines: list[Line]) -> float:
    return max(p.x1 for p in lines) - min(p.x0 for p in lines)


def _place_unlocated(pieces: Sequence[Line], groups: list[list[Line]]) -> list[Line]:
    """Merge each group into a line; a piece without a usable box follows the line holding
    the located piece before it in the input (or leads), so it keeps its place roughly."""
    group_of = {id(p): i for i, group in enumerate(groups) for p in group}
    after: dict[int, list[Line]] = {}
    last = -1
    for p in pieces:
        i = group_of.get(id(p))
        if i is None:
            after.setdefault(last, []).append(p)
        else:
            last = i
    out = list(after.get(-1, ()))
    for i, group in enumerate(groups):
        out.append(_merge(group))
        out += after.get(i, ())
    return out


def _merge(pieces: list[Line]) -> Line:
    """One line from the pieces of one row, left to right (a lone piece stays as it is)."""
    if len(pieces) == 1:
        return pieces[0]
    confidences = [p.confidence for p in pieces if p.confidence is not None]
    segments = {s for p in pieces for s in (p.segments or ((p.x0, p.x1),))}
    return Line(
        text=" ".join(t for t in (p.text.strip() for p in pieces) if t),
        x0=min(p.x0 for p in pieces),
        x1=max(p.x1 for p in pieces),
        top=min(p.top for p in pieces),
        bottom=max(p.bottom for p in pieces),
        size=max(pieces, key=lambda p: len(p.text.strip())).size,
        bold=all(p.bold for p in pieces),
        mono=all(p.mono for p in pieces),
        segments=tuple(sorted(segments)),
        confidence=sum(confidences) / len(confidences) if confidences else None,
    )
