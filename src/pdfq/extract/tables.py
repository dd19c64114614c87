"""Table detection: pdfplumber's table finder, run only on pages that look tabular.

pdfplumber is about fifty times slower than pdfium's text layer, so a page goes through it
only when its drawing shows ruling lines (or a grid) or its text lines show aligned columns.
Clean text pages never pay for it.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pdfq.domain import Table
from pdfq.extract.pdf import Line, PageLayout

Strategy = Literal["lines", "text"]

_MIN_COLUMN_LINES = 3  # consecutive lines with aligned column gaps that suggest a table


def column_block(lines: list[Line]) -> tuple[float, float, float, float] | None:
    """The box (x0, top, x1, bottom) of the first run of lines that look like table rows."""
    run: list[Line] = []
    for line in [*lines, None]:
        if line is not None and line.column_gaps() >= 1:
            if run and line.top - run[-1].bottom > 3 * line.size:
                run = []
            run.append(line)
            continue
        if len(run) >= _MIN_COLUMN_LINES and _columns_align(run):
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


def table_strategy(layout: PageLayout) -> Strategy | None:
    """Which pdfplumber strategy a page deserves, or ``None`` when it shows no table."""
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


class TableFinder:
    """Finds tables page by page in one document; pdfplumber is opened on first need only."""

    def __init__(self, path: Path, password: str | None = None) -> None:
        self._path = path
        self._password = password
        self._pdf: Any = None

    def _open(self) -> Any:
        if self._pdf is None:
            import pdfplumber  # heavy import, deferred until a page needs it

            self._pdf = pdfplumber.open(self._path, password=self._password or "")
        return self._pdf

    def find(self, layout: PageLayout) -> list[Table]:
        strategy = table_strategy(layout)
        if strategy is None:
            return []
        page = self._open().pages[layout.number - 1]
        try:
            if strategy == "lines":
                found = page.find_tables()
            else:
                box = column_block(layout.lines)
                assert box is not None
                x0, top, x1, bottom = box
                region = page.crop(
                    (max(0, x0), max(0, top), min(page.width, x1), min(page.height, bottom))
                )
                found = region.find_tables(
                    {"vertical_strategy": "text", "horizontal_strategy": "text"}
                )
            tables = []
            for candidate in found:
                rows = clean_rows(candidate.extract())
                if len(rows) >= 2 and len(rows[0]) >= 2:
                    bbox = tuple(round(float(v), 2) for v in candidate.bbox)
                    tables.append(Table(rows=rows, bbox=bbox))
            return tables
        finally:
            page.close()

    def close(self) -> None:
        pdf, self._pdf = self._pdf, None
        if pdf is None:
            return
        try:
            pdf.close()
        except Exception:  # pdfminer re-walks the pages on close and may choke on damage
            stream = getattr(pdf, "stream", None)
            if stream is not None:
                stream.close()

    def __enter__(self) -> TableFinder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
