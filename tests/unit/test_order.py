"""Reading order from geometry: columns drawn row by row come out column by column, while
tables, forms and single-column pages keep their rows."""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdfq.extract.order import reading_order
from pdfq.extract.page import Line

W, H = 612.0, 792.0
CHAR = 5.0  # points per character at 10 pt
PITCH = 14.0  # baseline to baseline
_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]


def piece(text: str, x0: float, x1: float | None, top: float, **kw: object) -> Line:
    """A piece of 10 pt text, 12 pt tall, about 5 pt per character."""
    right = x0 + CHAR * len(text) if x1 is None else x1
    return Line(text, x0, right, top, top + 12.0, 10.0, False, **kw)  # type: ignore[arg-type]


def prose(tag: str, x0: float, x1: float, top: float) -> Line:
    """A prose line filling ``x0..x1``, its text starting with ``tag``."""
    words = [tag]
    while CHAR * len(" ".join(words)) < x1 - x0 - 30:
        words.append(_WORDS[len(words) % len(_WORDS)])
    return piece(" ".join(words), x0, x1, top)


def tags(lines: list[Line]) -> list[str]:
    return [line.text.split()[0] for line in lines]


def two_column_rows(prefix: str, first_top: float, n: int) -> list[Line]:
    """``n`` rows of a two-column section, in content-stream order L1, R1, L2, R2, ..."""
    out: list[Line] = []
    for i in range(n):
        top = first_top + i * PITCH
        out += [prose(f"{prefix}L{i}", 72, 292, top), prose(f"{prefix}R{i}", 320, 540, top)]
    return out


def test_empty_input() -> None:
    assert reading_order([], W, H) == []


def test_single_column_keeps_order_and_merges_the_pieces_of_a_line() -> None:
    lines = [prose(f"P{i}", 72, 540, 72 + i * PITCH) for i in range(8)]
    split = piece("P8 first half", 72, None, 72 + 8 * PITCH)
    rest = piece("second half.", 300, None, 72 + 8 * PITCH)
    out = reading_order([*lines, rest, split], W, H)
    assert tags(out) == [f"P{i}" for i in range(9)]
    assert out[-1].text == "P8 first half second half."
    assert out[:8] == lines


def test_two_columns_drawn_row_by_row_are_read_column_by_column() -> None:
    out = reading_order(two_column_rows("", 72, 12), W, H)
    assert tags(out) == [f"L{i}" for i in range(12)] + [f"R{i}" for i in range(12)]
    assert all(line.x1 <= 292 or line.x0 >= 320 for line in out)  # no line mixes columns


def test_columns_with_offset_baselines_do_not_chain_into_one_row() -> None:
    pieces = []
    for i in range(10):
        pieces += [
            prose(f"L{i}", 72, 292, 72 + i * PITCH),
            prose(f"R{i}", 320, 540, 79 + i * PITCH),
        ]
    out = reading_order(pieces, W, H)
    assert tags(out) == [f"L{i}" for i in range(10)] + [f"R{i}" for i in range(10)]


THREE = [(72, 214), (234, 376), (396, 540)]


@pytest.mark.parametrize("offset", [0, 4], ids=["same baselines", "offset baselines"])
def test_three_columns(offset: float) -> None:
    pieces = [
        prose(f"C{c}.{i}", x0, x1, 72 + c * offset + i * PITCH)
        for i in range(9)
        for c, (x0, x1) in enumerate(THREE)
    ]
    out = reading_order(pieces, W, H)
    assert tags(out) == [f"C{c}.{i}" for c in range(3) for i in range(9)]


def test_full_width_title_and_footer_stay_in_place() -> None:
    title = piece("Title A Study of Reading Order in Two Columns", 150, 462, 40)
    body = two_column_rows("", 72, 10)
    # a short last line in each column (paragraph ends) still belongs to its column
    body += [
        piece("Lend of column.", 72, None, 72 + 10 * PITCH),
        piece("Rend too.", 320, None, 72 + 10 * PITCH),
    ]
    caption = prose("Caption", 72, 540, 72 + 12 * PITCH)
    out = reading_order([title, *body, caption], W, H)
    assert tags(out) == [
        "Title",
        *(f"L{i}" for i in range(10)),
        "Lend",
        *(f"R{i}" for i in range(10)),
        "Rend",
        "Caption",
    ]


def test_full_width_block_between_two_column_sections() -> None:
    a = two_column_rows("A", 72, 6)
    block = [prose(f"F{i}", 72, 540, 72 + (7 + i) * PITCH) for i in range(2)]
    b = two_column_rows("B", 72 + 10 * PITCH, 6)
    out = reading_order([*a, *block, *b], W, H)
    expected = [f"A{s}{i}" for s in "LR" for i in range(6)] + ["F0", "F1"]
    expected += [f"B{s}{i}" for s in "LR" for i in range(6)]
    assert tags(out) == expected


def test_a_narrow_sidebar_is_read_as_a_unit_before_the_main_column() -> None:
    side = ["Contents", "Overview", "Key figures", "Our people", "Contact us", "Next issue"]
    pieces = []
    for i in range(14):
        if i < len(side):
            pieces.append(piece(f"S{i} {side[i]}", 40, None, 72 + i * PITCH))
        pieces.append(prose(f"M{i}", 180, 570, 72 + i * PITCH))
    out = reading_order(pieces, W, H)
    assert tags(out) == [f"S{i}" for i in range(6)] + [f"M{i}" for i in range(14)]


def test_table_rows_stay_rows() -> None:
    rows = [
        ("Name", "Age", "City"),
        ("Alice Johnson", "34", "London"),
        ("Bob Lee", "27", "New York"),
        ("Carla Gomez", "45", "Madrid"),
        ("Dmitri Ivanov", "52", "Saint Petersburg"),
        ("Eve Adams", "19", "Paris"),
    ]
    pieces = [
        piece(cell, x, None, 72 + i * PITCH)
        for i, row in enumerate(rows)
        for cell, x in zip(row, (72, 200, 330), strict=True)
    ]
    out = reading_order(pieces, W, H)
    assert [line.text for line in out] == [" ".join(row) for row in rows]
    assert out[1].segments == ((72, 137), (200, 210), (330, 360))


def test_key_value_lines_stay_rows() -> None:
    pairs = [
        ("Author:", "Jane Doe"),
        ("Title:", "A Study of Reading Order"),
        ("Date:", "12 March 2024"),
        ("Affiliation:", "University of Somewhere"),
        ("Keywords:", "layout, reading order, PDF"),
        ("Pages:", "12"),
    ]
    pieces = [
        p
        for i, (k, v) in enumerate(pairs)
        for p in (piece(k, 72, None, 72 + i * PITCH), piece(v, 160, None, 72 + i * PITCH))
    ]
    out = reading_order(pieces, W, H)
    assert [line.text for line in out] == [f"{k} {v}" for k, v in pairs]


def test_key_value_labels_beside_long_values_stay_rows() -> None:
    keys = ["Summary:", "Scope:", "Method:", "Outcome:", "Status:"]
    pieces = [
        p
        for i, k in enumerate(keys)
        for p in (piece(k, 72, None, 72 + i * PITCH), prose(f"V{i}", 160, 540, 72 + i * PITCH))
    ]
    out = reading_order(pieces, W, H)
    assert [line.text.split()[:2] for line in out] == [[k, f"V{i}"] for i, k in enumerate(keys)]


def test_numbers_of_a_list_stay_with_their_items() -> None:
    pieces = [
        p
        for i in range(6)
        for p in (
            piece(f"{i + 1}.", 72, None, 72 + i * PITCH),
            prose(f"T{i}", 100, 540, 72 + i * PITCH),
        )
    ]
    out = reading_order(pieces, W, H)
    assert [line.text.split()[:2] for line in out] == [[f"{i + 1}.", f"T{i}"] for i in range(6)]


def test_running_header_and_footer_split_at_the_gutter_stay_one_row_each() -> None:
    header = [piece("Header Journal of Things", 72, None, 36), piece("page 3", 500, None, 36)]
    footer = [piece("Footer 2024", 72, None, 740), piece("draft", 500, None, 740)]
    out = reading_order([*header, *two_column_rows("", 72, 8), *footer], W, H)
    assert tags(out) == [
        "Header",
        *(f"L{i}" for i in range(8)),
        *(f"R{i}" for i in range(8)),
        "Footer",
    ]
    assert (out[0].text, out[-1].text) == ("Header Journal of Things page 3", "Footer 2024 draft")


def test_superscripts_and_mixed_sizes_on_one_line_merge() -> None:
    base = piece("E equals mc", 72, None, 100)
    sup = Line("2", base.x1 + 1, base.x1 + 5, 97, 104, 6.0, False)
    big = Line("BIG", 160, 190, 95, 112, 14.0, True)
    sub = Line("i", 200, 203, 106, 113, 6.0, False)
    next_line = piece("next line", 72, None, 100 + PITCH)
    out = reading_order([next_line, sub, big, sup, base], W, H)
    assert [line.text for line in out] == ["E equals mc 2 BIG i", "next line"]
    assert (out[0].top, out[0].bottom, out[0].size) == (95, 113, 10.0)


def test_merged_line_fields() -> None:
    a = Line("left part", 72, 117, 100, 112, 10.0, True, ((72.0, 90.0), (95.0, 117.0)), 0.5)
    b = Line(" rightmost bit ", 200, 265, 101, 113, 0.0, True, (), None)
    c = Line("mid", 150, 165, 100, 112, 9.0, False, (), 0.9)
    [line] = reading_order([b, c, a], W, H)
    assert line.text == "left part mid rightmost bit"
    assert (line.x0, line.x1, line.top, line.bottom) == (72, 265, 100, 113)
    assert line.size == 0.0  # the piece with most characters has no size
    assert not line.bold
    assert line.segments == ((72.0, 90.0), (95.0, 117.0), (150.0, 165.0), (200.0, 265.0))
    assert line.confidence is not None
    assert math.isclose(line.confidence, 0.7)


def test_pieces_without_a_box_do_not_raise_and_keep_their_place() -> None:
    body = two_column_rows("", 72, 5)
    zero = Line("zero", 0, 0, 0, 0, 0.0, False)
    nan = Line("nan", math.nan, 1, 2, math.inf, math.nan, False)
    pieces = [zero, *body[:3], nan, *body[3:]]  # nan comes after L1 in the stream
    out = reading_order(pieces, W, H)
    assert tags(out) == ["zero", "L0", "L1", "nan", "L2", "L3", "L4", "R0", "R1", "R2", "R3", "R4"]
    assert reading_order([zero, nan], 0, 0) == [zero, nan]
    assert tags(reading_order([*body, piece("flat", 72, 72, 300)], math.nan, -1))[-1] == "flat"


def _words(lines: list[Line]) -> Counter[str]:
    return Counter(w for line in lines for w in line.text.split())


_coord = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.floats(0, 800)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_WORDS), _coord, _coord, _coord, _coord, _coord), max_size=40
    ),
    _coord,
    _coord,
)
def test_arbitrary_boxes_never_raise_and_keep_every_word(
    raw: list[tuple[str, float, float, float, float, float]], width: float, height: float
) -> None:
    pieces = [Line(t, x0, x1, top, bottom, size, False) for t, x0, x1, top, bottom, size in raw]
    assert _words(reading_order(pieces, width, height)) == _words(pieces)


def _random_pieces(n: int, seed: int) -> list[Line]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text = " ".join(rng.choices(_WORDS, k=rng.randint(1, 12)))
        x0, top = rng.uniform(0, 560), rng.uniform(0, 780)
        out.append(piece(text, x0, min(W, x0 + CHAR * len(text)), top))
    return out


def _timed(pieces: list[Line]) -> tuple[float, list[Line]]:
    start = time.perf_counter()
    out = reading_order(pieces, W, H)
    return time.perf_counter() - start, out


def test_5000_random_pieces_are_ordered_well_under_a_second() -> None:
    pieces = _random_pieces(5000, seed=7)
    elapsed, out = _timed(pieces)
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    assert _words(out) == _words(pieces)


def test_5000_pieces_of_dense_two_column_text_are_ordered_well_under_a_second() -> None:
    # a tall page of many sections: every cut re-reads the rows above and below it
    pieces = []
    for s in range(125):
        pieces += two_column_rows(f"S{s}.", s * 22 * PITCH, 20)
        pieces.append(prose(f"S{s}.F", 72, 540, (s * 22 + 20) * PITCH))
    elapsed, out = _timed(pieces[:5000])
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    assert tags(out)[:21] == [f"S0.L{i}" for i in range(20)] + ["S0.R0"]


def test_code_beside_code_is_read_by_columns_when_the_file_draws_it_so() -> None:
    # Two columns of code (never prose) across a wide gutter: the content stream draws the
    # left column, then the right one, as browsers print CSS columns.
    left = [piece(f"L{i}=call({i});", 72, 180, 100 + 12 * i) for i in range(8)]
    right = [piece(f"R{i}=call({i});", 340, 450, 100 + 12 * i) for i in range(8)]
    out = reading_order([*left, *right], W, H)
    assert [line.text[:2] for line in out] == [f"L{i}" for i in range(8)] + [
        f"R{i}" for i in range(8)
    ]
    # The same cells drawn row by row (a table, a form) stay rows.
    rows = [p for pair in zip(left, right, strict=True) for p in pair]
    assert [len(line.text.split()) for line in reading_order(rows, W, H)] == [2] * 8


def test_a_gutter_proven_on_one_page_cuts_the_next() -> None:
    columns: list[float] = []
    reading_order(two_column_rows("", 72, 12), W, H, columns)
    assert len(columns) == 1
    code = [piece(f"L{i}=x;", 72, 150, 100 + 12 * i) for i in range(4)]
    code += [piece(f"R{i}=y;", 320, 400, 100 + 12 * i) for i in range(4)]
    rows = [p for pair in zip(code[:4], code[4:], strict=True) for p in pair]
    assert [line.text for line in reading_order(rows, W, H)][:2] == ["L0=x; R0=y;", "L1=x; R1=y;"]
    out = reading_order(rows, W, H, columns)
    assert [line.text for line in out][:2] == ["L0=x;", "L1=x;"]


def test_columns_whose_paragraph_gaps_line_up_are_read_down_the_whole_page() -> None:
    first = two_column_rows("a", 72, 10)
    second = two_column_rows("b", 72 + 10 * PITCH + 30, 10)  # a blank band across both
    out = [line.text.split()[0] for line in reading_order([*first, *second], W, H)]
    expected = [f"{s}L{i}" for s in "ab" for i in range(10)] + [
        f"{s}R{i}" for s in "ab" for i in range(10)
    ]
    assert out == expected
