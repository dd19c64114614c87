"""Extraction on real generated PDFs: text, tables, Markdown, metadata and every bad input."""

from __future__ import annotations

import io
import multiprocessing
import resource
from pathlib import Path

import pikepdf
import pytest

from pdfq.domain import Options
from pdfq.errors import (
    Encrypted,
    InvalidOptions,
    MalformedPdf,
    PdfqError,
    TooManyPages,
    UnsafePdf,
)
from pdfq.extract.document import PAGE_SEPARATOR, Limits, extract_document
from pdfq.extract.scan import scan_pdf
from tests import samples


@pytest.fixture
def write(tmp_path: Path):
    def write(data: bytes, name: str = "doc.pdf") -> Path:
        return samples.write(tmp_path, name, data)

    return write


def test_report_text_tables_markdown_and_metadata(write, report_pdf: bytes) -> None:
    result = extract_document(write(report_pdf), job_id="j1")
    assert result.page_count == 3
    assert [p.number for p in result.pages] == [1, 2, 3]
    assert result.metadata.title == "Quarterly Report"
    assert result.metadata.author == "pdfq tests"
    first = result.pages[0]
    assert (first.width, first.height) == (595.28, 841.89)
    assert "Paragraph 1 of the sample report explains the figures" in first.text
    assert first.tables[0].rows == samples.TABLE_ROWS
    md = first.markdown
    assert md.startswith("# Quarterly Report\n\n# 1. Section 1\n\n")
    assert "- first point\n- second point" in md
    assert "## Results" in md
    assert "| Region | Q1 | Q2 | Q3 |\n|---|---|---|---|\n| North | 10 | 12 | 15 |" in md
    assert md.index("## Results") < md.index("| Region") < md.index("End of section 1.")
    # The paragraph is joined into one Markdown line even though it wraps on the page.
    assert any(
        block.startswith("Paragraph 1 of") and block.endswith("several lines of the rendered page.")
        for block in md.split("\n\n")
    )
    assert result.text == PAGE_SEPARATOR.join(p.text for p in result.pages)
    assert result.markdown.count("## Results") == 3


def test_clean_text_pages_never_touch_the_table_finder(write, monkeypatch) -> None:
    from pdfq.extract import tables

    searched: list[object] = []
    real = tables._cells

    def spy(edges):
        searched.append(edges)
        return real(edges)

    monkeypatch.setattr(tables, "_cells", spy)
    result = extract_document(write(samples.text_pdf(pages=5)))
    assert result.pages[4].text.startswith("word5x0 word5x1")
    assert result.pages[4].furniture == ["Page 5"]  # a page number at the top
    assert all(p.tables == [] for p in result.pages)
    assert searched == []
    extract_document(write(samples.report_pdf(), "report.pdf"))
    assert len(searched) == 1  # the ruled page is searched: the check above can fail


def test_pages_option_selects_and_rejects_an_empty_selection(write, report_pdf: bytes) -> None:
    path = write(report_pdf)
    result = extract_document(path, options=Options(pages="3,1-1,7-"))
    assert [p.number for p in result.pages] == [1, 3]
    assert result.page_count == 3
    with pytest.raises(InvalidOptions, match="selects nothing"):
        extract_document(path, options=Options(pages="4-"))


def test_encrypted_needs_the_right_password(write) -> None:
    path = write(samples.encrypted_pdf("s3cret"))
    with pytest.raises(Encrypted, match="send its password"):
        extract_document(path)
    with pytest.raises(Encrypted, match="password is wrong"):
        extract_document(path, password="nope")
    result = extract_document(path, password="s3cret")
    assert "Quarterly Report" in result.pages[0].text
    assert result.pages[0].tables[0].rows == samples.TABLE_ROWS


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n", b"%PDF-1.4\n" + bytes(range(256)) * 40, b"%PDF-1.7\n%%EOF\n"],
    ids=["header-only", "garbage-after-header", "header-and-eof"],
)
def test_files_with_no_document_are_malformed(write, data: bytes) -> None:
    with pytest.raises(MalformedPdf):
        extract_document(write(data))


def test_truncated_files_are_repaired_when_possible_else_malformed(
    write, report_pdf: bytes
) -> None:
    # Losing the tail (cross-reference table, trailer, or the last objects) is recoverable.
    result = extract_document(write(report_pdf[: report_pdf.rindex(b"xref")]))
    assert "Quarterly Report" in result.text
    linear = io.BytesIO()
    pikepdf.open(io.BytesIO(report_pdf)).save(linear, linearize=True)
    result = extract_document(write(samples.truncated(linear.getvalue(), 0.95)))
    assert result.page_count == 3
    assert "Paragraph 3 of the sample report" in result.pages[2].text
    # ReportLab writes the catalog last: cut before it, nothing is left to repair.
    for keep in (0.2, 0.5, 0.8):
        with pytest.raises(MalformedPdf, match="cannot be read"):
            extract_document(write(samples.truncated(report_pdf, keep)))


def outcome(path: Path) -> str:
    """``ok`` or the error code of a clean failure; any other exception escapes (a bug)."""
    try:
        extract_document(path)
    except PdfqError as exc:
        return exc.code.value
    return "ok"


@pytest.mark.parametrize("seed", range(25))
def test_random_byte_flips_end_cleanly(write, report_pdf: bytes, seed: int) -> None:
    data = samples.flipped(report_pdf, flips=20, seed=seed)
    assert outcome(write(data)) in {
        "ok",
        "malformed_pdf",
        "encrypted",
        "unsafe_pdf",
        "too_many_pages",
    }


def test_page_tree_cycle_is_malformed(write) -> None:
    with pytest.raises(MalformedPdf, match="Loop detected"):
        extract_document(write(samples.page_tree_cycle_pdf()))


def test_page_limit(write) -> None:
    path = write(samples.many_pages_pdf(20_000))
    with pytest.raises(TooManyPages, match="20000 pages; the limit is 5000"):
        extract_document(path, limits=Limits(max_pages=5000))


def test_stream_limit_has_no_false_positive_below_it(write) -> None:
    content = b"BT /F1 12 Tf 72 700 Td (hello) Tj ET\n" + b" " * (12 << 20)
    path = write(samples.stream_pdf(content))
    with pytest.raises(UnsafePdf, match="inflates beyond 8 MiB"):
        extract_document(path, limits=Limits(max_stream_bytes=8 << 20))
    assert scan_pdf(path, password=None, max_stream_bytes=16 << 20).problem is None
    extract_document(path, limits=Limits(max_stream_bytes=16 << 20))


def _extract_with_memory_cap(path: str, cap: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        extract_document(Path(path))
        out.put("extracted")
    except PdfqError as exc:
        out.put(exc.code.value)
    except MemoryError:
        out.put("MemoryError")


@pytest.mark.slow
def test_deflate_bomb_is_rejected_without_inflating_it(tmp_path: Path) -> None:
    """A 1 GiB bomb is refused by a process whose whole address space is capped at 1 GiB."""
    path = samples.write(tmp_path, "bomb.pdf", samples.deflate_bomb_pdf(1 << 30))
    assert path.stat().st_size < 2 << 20
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_extract_with_memory_cap, args=(str(path), 1 << 30, out))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert out.get(timeout=1) == "unsafe_pdf"
