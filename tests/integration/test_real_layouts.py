"""Pages laid out as real files are: columns drawn across, sidebars, rotation, scaled fonts,
tables without rules, and pages whose stages fail (the page keeps its text, the job goes on)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pdfq.domain import DocumentResult
from pdfq.extract import document as document_module
from pdfq.extract.document import extract_document
from tests import layouts, samples

_TAG = re.compile(r"\bc(\d)r(\d\d)\b")


def extract(tmp_path: Path, data: bytes) -> DocumentResult:
    return extract_document(samples.write(tmp_path, "doc.pdf", data))


def tags(text: str) -> list[tuple[int, int]]:
    """The (column, row) marks of the text, in the order they appear."""
    return [(int(c), int(r)) for c, r in _TAG.findall(text)]


def read_by_columns(found: list[tuple[int, int]], columns: int, rows: int) -> bool:
    return found == [(c, r) for c in range(columns) for r in range(rows)]


@pytest.mark.parametrize("columns", [2, 3])
def test_columns_drawn_row_by_row_read_column_by_column(tmp_path: Path, columns: int) -> None:
    page = extract(tmp_path, layouts.columns_pdf(columns, rows=30)).pages[0]
    assert read_by_columns(tags(page.text), columns, 30), tags(page.text)[:8]
    assert read_by_columns(tags(page.markdown), columns, 30)
    block_text = "\n".join(block.text for block in page.blocks)
    assert read_by_columns(tags(block_text), columns, 30)
    # No line mixes two columns, and the full-width lines stay where they are.
    assert all(len({c for c, _ in tags(line)}) <= 1 for line in page.text.split("\n"))
    assert page.text.startswith("A Title\n")
    assert page.text.rstrip().endswith("runs across the whole width of the page, once.")
    assert page.markdown.startswith("# A Title")
    assert page.tables == []  # column-aligned prose is never a table


def test_a_sidebar_is_not_interleaved_with_the_main_column(tmp_path: Path) -> None:
    page = extract(tmp_path, layouts.sidebar_pdf(rows=30)).pages[0]
    found = tags(page.text)
    sidebar = [i for i, (c, _) in enumerate(found) if c == 0]
    main = [i for i, (c, _) in enumerate(found) if c == 1]
    assert len(sidebar) == 10
    assert len(main) == 30
    assert max(sidebar) < min(main) or max(main) < min(sidebar)
    assert [r for c, r in found if c == 1] == list(range(30))


def test_a_rotated_page_reads_upright_in_display_coordinates(tmp_path: Path) -> None:
    page = extract(tmp_path, layouts.rotated_pdf()).pages[0]
    assert (page.width, page.height) == (792, 612)
    lines = [line for line in page.text.split("\n") if line]
    assert lines == [f"Rotated line {i} reads left to right on screen." for i in range(5)]
    boxes = [block.bbox for block in page.blocks]
    assert all(b is not None and 0 <= b[0] < b[2] <= 792 and 0 <= b[1] < b[3] <= 612 for b in boxes)


def test_a_font_scaled_by_the_text_matrix_gets_its_real_size(tmp_path: Path) -> None:
    page = extract(tmp_path, layouts.scaled_font_pdf()).pages[0]
    assert page.warnings == []
    assert page.markdown.startswith("# Scaled Heading\n\n")
    assert "Body line 7 of text set in a tiny font" in page.markdown


def test_a_table_without_rules_is_found_from_aligned_columns(tmp_path: Path) -> None:
    data, rows = layouts.aligned_table_pdf()
    page = extract(tmp_path, data).pages[0]
    assert [table.rows for table in page.tables] == [rows]
    assert "| Item | Count | Price |" in page.markdown
    assert page.markdown.startswith("The parts below were counted")


def test_a_page_whose_stages_fail_keeps_its_text_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(document_module, "find_tables", broken)
    monkeypatch.setattr(document_module, "page_blocks", broken)
    result = extract(tmp_path, samples.report_pdf(pages=2))
    assert [p.number for p in result.pages] == [1, 2]
    for page in result.pages:
        assert "Paragraph 1 of the sample report" in result.pages[0].text
        assert page.tables == []
        assert "tables failed (ZeroDivisionError: float division by zero)" in page.warnings
        assert "blocks failed (ZeroDivisionError: float division by zero)" in page.warnings
        assert page.markdown  # the fallback: one paragraph per line
        assert [b.kind for b in page.blocks] == ["paragraph"] * len(page.blocks)


def test_a_page_past_its_time_budget_skips_its_optional_stages(tmp_path: Path) -> None:
    from pdfq.extract.document import Limits

    path = samples.write(tmp_path, "doc.pdf", samples.report_pdf())
    result = extract_document(path, limits=Limits(page_seconds=0.0))
    page = result.pages[0]
    assert page.tables == []
    assert any(w.startswith("tables skipped: the page's time budget") for w in page.warnings)
    assert "Paragraph 1 of the sample report" in page.text
    assert page.markdown.startswith("# Quarterly Report")


def test_the_scan_under_an_ocr_text_layer_is_not_a_figure(tmp_path: Path) -> None:
    page = extract(tmp_path, layouts.ocr_layer_pdf()).pages[0]
    assert page.method == "text"
    assert "recognised by the scanner's own OCR" in page.text
    assert [(image.width, image.height) for image in page.images] == [(64, 64)]


def test_a_listing_in_a_fixed_pitch_font_is_a_code_block(tmp_path: Path) -> None:
    page = extract(tmp_path, layouts.code_pdf()).pages[0]
    code = [block for block in page.blocks if block.kind == "code"]
    assert len(code) == 1
    assert code[0].markdown == "\n".join(["```", *layouts.CODE, "```"])  # the blank line too
    assert page.markdown.startswith("The client is used like this")
    assert page.markdown.rstrip().endswith("It prints the server's health and exits.")


def test_running_headers_and_page_numbers_leave_the_text_and_stay_as_furniture(
    tmp_path: Path,
) -> None:
    result = extract(tmp_path, layouts.running_header_pdf(pages=5))
    for page in result.pages:
        assert page.furniture == ["pdfq handbook - chapter two", f"Page {page.number} of 5"]
        assert "handbook" not in page.markdown
        assert "Page " not in page.text
        assert page.text.startswith(f"c0r{page.number}00")
        kinds = [block.kind for block in page.blocks]
        assert kinds.count("furniture") == 2
        assert all(b.bbox is not None for b in page.blocks if b.kind == "furniture")
    assert "handbook" not in result.markdown
