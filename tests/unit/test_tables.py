"""When a page deserves the (slow) table finder, and how cells are cleaned."""

from __future__ import annotations

from pdfq.extract.pdf import Drawing, Line, PageLayout
from pdfq.extract.tables import clean_rows, column_block, table_strategy


def row(top: float, *columns: float) -> Line:
    segments = tuple((x, x + 30) for x in columns)
    return Line(
        "cell " * len(columns), columns[0], columns[-1] + 30, top, top + 10, 10.0, False, segments
    )


def prose(top: float) -> Line:
    return Line("An ordinary line of prose text.", 72, 400, top, top + 10, 10.0, False)


def page(lines: list[Line], drawing: Drawing | None = None) -> PageLayout:
    return PageLayout(1, 612, 792, "text", lines, drawing or Drawing())


def test_plain_prose_is_not_a_table_candidate() -> None:
    assert table_strategy(page([prose(100 + 12 * i) for i in range(30)])) is None


def test_ruling_lines_select_the_lines_strategy() -> None:
    assert table_strategy(page([prose(100)], Drawing(h_rules=3, v_rules=0))) == "lines"
    assert table_strategy(page([prose(100)], Drawing(h_rules=2, v_rules=2))) == "lines"
    assert table_strategy(page([prose(100)], Drawing(grid_segments=40, boxes=1))) == "lines"
    assert table_strategy(page([prose(100)], Drawing(h_rules=1, boxes=1))) is None


def test_aligned_columns_select_the_text_strategy_and_give_their_box() -> None:
    lines = [prose(80), row(100, 72, 200, 300), row(114, 72, 200, 300), row(128, 72, 201, 299)]
    assert table_strategy(page(lines)) == "text"
    x0, top, x1, bottom = column_block(lines) or (0, 0, 0, 0)
    assert (x0, top, x1, bottom) == (70, 98, 332, 140)


def test_misaligned_gapped_lines_are_not_columns() -> None:
    lines = [row(100, 72, 150), row(114, 72, 260), row(128, 72, 380)]
    assert column_block(lines) is None


def test_a_blank_page_is_never_a_candidate() -> None:
    empty = PageLayout(1, 612, 792, "", [], Drawing(h_rules=10, v_rules=10))
    assert table_strategy(empty) is None


def test_clean_rows_drops_empty_rows_and_columns_and_joins_lines() -> None:
    rows: list[list[str | None]] = [
        ["Name", None, "Total\namount"],
        [None, None, None],
        ["a", "", " 1 "],
    ]
    assert clean_rows(rows) == [["Name", "Total amount"], ["a", "1"]]


def test_cells_are_pdfplumbers_own_on_grids_and_figures() -> None:
    from pdfplumber.table import edges_to_intersections, intersections_to_cells

    from pdfq.extract.tables import _edge, _intersections_to_cells

    grid = [(40.0, 40 + 12.0 * r, 300.0, 40 + 12.0 * r) for r in range(6)]
    grid += [(40 + 52.0 * k, 40.0, 40 + 52.0 * k, 100.0) for k in range(6)]
    boxes = [(400.0, 300.0, 450.0, 300.0), (400.0, 330.0, 450.0, 330.0)]  # an unjoined figure
    boxes += [(400.0, 300.0, 400.0, 330.0), (430.0, 310.0, 430.0, 340.0)]
    crossings = edges_to_intersections([_edge(b) for b in grid + boxes], 3, 3)
    cells = _intersections_to_cells(crossings)
    assert cells == intersections_to_cells(crossings)
    assert len(cells) == 25
