"""Running headers, footers and page numbers, told from the pages seen."""

from __future__ import annotations

from pdfq.extract.furniture import Furniture, is_page_number
from pdfq.extract.page import Line, PageLayout


def line(text: str, top: float) -> Line:
    return Line(text, 72, 72 + 5 * len(text), top, top + 9, 9.0, False)


def page(number: int, header: str) -> PageLayout:
    lines = [line(header, 20), line(f"Body text of page {number}.", 300), line(str(number), 770)]
    return PageLayout(number, 612, 792, "", lines)


def test_a_header_seen_on_enough_pages_is_furniture_and_body_text_is_not() -> None:
    furniture = Furniture()
    pages = [page(n, f"Chapter 2 - section {n % 3}") for n in range(1, 7)]
    for p in pages:
        furniture.learn(p)
    header, _body, number = pages[0].lines
    # The same pattern with its number changed, and a bare page number; never the body.
    assert furniture.find(pages[0]) == [header, number]
    once = PageLayout(9, 612, 792, "", [line("A title seen once", 20), line("Body.", 300)])
    assert furniture.find(once) == []


def test_body_text_reaching_into_a_band_is_not_furniture() -> None:
    furniture = Furniture()
    pages = [
        PageLayout(n, 612, 792, "", [line(f"Row {n}", 20), line(f"Row {n + 1}", 32)])
        for n in range(6)
    ]
    for p in pages:
        furniture.learn(p)
    assert furniture.find(pages[0]) == [pages[0].lines[0]]  # the outermost row only


def test_a_header_needs_three_pages() -> None:
    furniture = Furniture()
    for n in (1, 2):
        furniture.learn(page(n, "Annual report"))
    header = page(4, "Annual report")
    assert furniture.find(header)[0].text == "4"  # the page number only
    furniture.learn(page(3, "Annual report"))
    assert [ln.text for ln in furniture.find(header)] == ["Annual report", "4"]


def test_page_number_forms() -> None:
    assert all(map(is_page_number, ["12", "Page 3 of 7", "- iv -", "(4)", "3/10", "xiv"]))
    assert not any(map(is_page_number, ["Chapter 3", "mix", "2021 annual report", "Total"]))
