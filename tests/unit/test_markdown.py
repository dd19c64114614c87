"""Markdown from lines: headings by relative size, lists, paragraphs, tables."""

from __future__ import annotations

from pdfq.domain import Table
from pdfq.extract.markdown import page_markdown, table_markdown
from pdfq.extract.pdf import Line, PageLayout


def line(text: str, top: float, size: float = 10.0, x0: float = 72.0, bold: bool = False) -> Line:
    return Line(text, x0, x0 + 6 * len(text), top, top + size, size, bold)


def layout(*lines: Line) -> PageLayout:
    return PageLayout(1, 612, 792, "\n".join(ln.text for ln in lines), list(lines))


def test_headings_follow_size_relative_to_body() -> None:
    md = page_markdown(
        layout(
            line("Big Title", 50, size=20),
            line("Section", 90, size=14),
            line("Subsection", 120, size=11.5),
            line("Body text that is the most common size on the page by far.", 140),
            line("More body text with plenty of characters to dominate the size.", 152),
        ),
        [],
    )
    blocks = md.split("\n\n")
    assert blocks[:3] == ["# Big Title", "## Section", "### Subsection"]
    assert blocks[3].startswith("Body text that is")
    assert "More body text" in blocks[3]


def test_a_wrapped_heading_stays_one_heading_but_two_headings_do_not_merge() -> None:
    md = page_markdown(
        layout(
            line("A long title that wraps", 50, size=20),
            line("onto a second line", 72, size=20),
            line("1. Next heading", 110, size=20),
            line("body " * 30, 150),
        ),
        [],
    )
    assert md.startswith("# A long title that wraps onto a second line\n\n# 1. Next heading")


def test_paragraphs_split_on_vertical_gaps_and_join_hyphenated_lines() -> None:
    md = page_markdown(
        layout(
            line("The first paragraph is split over two lines with a hyphen-", 100),
            line("ated word at the break.", 112),
            line("A second paragraph after a blank gap.", 150),
        ),
        [],
    )
    assert md.split("\n\n") == [
        "The first paragraph is split over two lines with a hyphen-ated word at the break.",
        "A second paragraph after a blank gap.",
    ]


def test_bullets_and_numbers_become_lists() -> None:
    md = page_markdown(
        layout(
            line("Intro line of the paragraph before the list starts.", 100),
            line("• apples", 130),
            line("• pears that need a second", 142),
            line("line to finish", 154, x0=84),
            line("1) first", 180),
            line("2. second", 192),
        ),
        [],
    )
    assert "- apples\n- pears that need a second line to finish" in md
    assert "1. first\n2. second" in md


def test_markdown_control_characters_at_line_start_are_escaped() -> None:
    md = page_markdown(layout(line("# not a heading but body text here", 100)), [])
    assert md == "\\# not a heading but body text here"


def test_table_lines_are_replaced_by_the_table_in_place() -> None:
    table = Table(rows=[["A", "B|C"], ["1", "2"]], bbox=(60, 195, 300, 230))
    md = page_markdown(
        layout(
            line("Before the table comes a sentence.", 150),
            line("A B|C", 200),
            line("1 2", 215),
            line("After the table.", 260),
        ),
        [table],
    )
    assert md.split("\n\n") == [
        "Before the table comes a sentence.",
        "| A | B\\|C |\n|---|---|\n| 1 | 2 |",
        "After the table.",
    ]


def test_table_markdown_pads_ragged_rows() -> None:
    assert table_markdown(Table(rows=[["a", "b", "c"], ["1"]])) == (
        "| a | b | c |\n|---|---|---|\n| 1 |  |  |"
    )


def mono(text: str, top: float, x0: float = 72.0, size: float = 9.0) -> Line:
    return Line(text, x0, x0 + 5.4 * len(text), top, top + size, size, False, mono=True)


def test_fixed_pitch_lines_become_a_fenced_block_with_their_indentation() -> None:
    md = page_markdown(
        layout(
            line("Call it like this:", 50),
            mono("def main():", 64),
            mono("return 1", 75, x0=72 + 4 * 5.4),
            line("and it returns one.", 90),
        ),
        [],
    )
    assert md.split("\n\n") == [
        "Call it like this:",
        "```\ndef main():\n    return 1\n```",
        "and it returns one.",
    ]


def test_a_lone_fixed_pitch_line_is_inline_code() -> None:
    md = page_markdown(layout(line("Run this:", 50), mono("pdfq serve", 64)), [])
    assert md.split("\n\n") == ["Run this:", "`pdfq serve`"]


def test_code_outnumbering_prose_does_not_make_prose_a_heading() -> None:
    md = page_markdown(
        layout(
            line("Some prose at the body size, shorter than the code below it.", 50, size=11),
            *(
                mono(f"x{i} = compute_something_long(argument_{i}, other)", 64 + 11 * i)
                for i in range(12)
            ),
        ),
        [],
    )
    assert not md.startswith("#")
    assert md.startswith("Some prose at the body size")


def test_a_page_typed_all_in_a_fixed_pitch_font_is_prose_not_code() -> None:
    md = page_markdown(
        layout(
            mono("Agreement No. 12", 50, size=15),
            mono("The parties agree to the terms that follow, clause by clause.", 70),
            mono("Each clause binds both of them from the day it is signed.", 81),
        ),
        [],
    )
    assert md.split("\n\n") == [
        "# Agreement No. 12",
        "The parties agree to the terms that follow, clause by clause. "
        "Each clause binds both of them from the day it is signed.",
    ]


def test_a_bulleted_item_set_in_inline_code_is_a_list_item_not_code() -> None:
    md = page_markdown(
        layout(
            line("Some prose to set the body size, long enough to count as the body.", 50),
            mono("• Gt(x) - value must be greater than x", 64),
            mono("• Ge(x) - value must be greater or equal", 75),
        ),
        [],
    )
    assert md.split("\n\n")[1] == (
        "- Gt(x) - value must be greater than x\n- Ge(x) - value must be greater or equal"
    )
