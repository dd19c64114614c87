"""The result object's layout: pages stored once, inside the result JSON, each its own range."""

from __future__ import annotations

import json

import pytest

from pdfq import results
from pdfq.blobs.local import LocalBlobs
from pdfq.domain import Block, DocumentResult, Metadata, PageResult, Table


def _page(number: int) -> PageResult:
    return PageResult(
        number=number,
        text=f'Line "one" of page {number}\nzweite Zeile \u00e9 \u2014 \U0001f600 \\ \t,\n',
        markdown=f"# Page {number}\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        method="ocr" if number % 2 else "text",
        ocr_confidence=0.912345678 if number % 2 else None,
        tables=[Table(rows=[["a", "b"], ["1", "2"]], bbox=(1.5, 2.25, 300.0, 400.125))],
        blocks=[Block(kind="heading", bbox=(1, 2, 3, 4), text=f"Page {number}", level=1)],
        width=612,
        height=792.5,
    )


def _document(numbers: list[int]) -> DocumentResult:
    pages = [_page(n) for n in numbers]
    return DocumentResult(
        id="01a2492c-7f7b-7446-b099-64b041a91cae",
        filename='r\u00e9sum\u00e9 "final" ],"pages":[.pdf',
        page_count=9,
        metadata=Metadata(title="T\u00eftle", custom="a value"),
        pages=pages,
        text="\f".join(p.text for p in pages),
        markdown="\n\n".join(p.markdown for p in pages),
    )


def _json(page: PageResult) -> bytes:
    return page.model_dump_json().encode()


@pytest.mark.parametrize("copied", [0, 1, 3])
def test_the_result_json_holds_every_page_and_each_own_page_is_its_own_range(copied: int) -> None:
    document = _document([1, 2, 5])
    lines = [_json(p) for p in document.pages]
    data, spans, (start, length) = results.document_json(document, lines[:copied], lines[copied:])
    assert json.loads(data) == json.loads(document.model_dump_json())
    assert DocumentResult.model_validate_json(data) == document
    own = document.pages[copied:]
    assert len(spans) == len(own)
    for page, (offset, size) in zip(own, spans, strict=True):
        assert data[offset : offset + size] == _json(page) + b"\n"
    assert data[start : start + length].count(b"\n") == len(own)
    assert length == sum(size for _, size in spans) + max(len(own) - 1, 0)  # commas between


def test_a_result_with_no_pages_and_a_mismatch() -> None:
    empty = _document([])
    data, spans, _ = results.document_json(empty, [], [])
    assert (json.loads(data), spans) == (json.loads(empty.model_dump_json()), [])
    with pytest.raises(ValueError, match="every page"):
        results.document_json(_document([1, 2]), [], [_json(_page(1))])


def test_write_result_indexes_every_part_of_one_object(tmp_path) -> None:
    blobs = LocalBlobs(tmp_path)
    document = _document([1, 2, 3])
    lines = [_json(p) for p in document.pages]
    index, spans = results.write_result(
        blobs, job_id="j", attempt=1, result=document, copied=[], own=lines
    )
    data = blobs.get(results.result_key("j", 1))

    def part(name: str) -> bytes:
        offset, length = index[name]
        return data[offset : offset + length]

    assert DocumentResult.model_validate_json(part("json")) == document
    assert part("markdown").decode() == document.markdown
    assert part("text").decode() == document.text
    assert part("markdown-boxes").decode() == results.boxes_markdown(document)
    assert part("tables.csv") == results.tables_csv(document)
    assert part("pages").count(b"\n") == 3  # the run of pages, inside the JSON
    assert index["pages"][0] > index["json"][0]
    assert [PageResult.model_validate_json(data[o : o + n]) for o, n in spans] == document.pages
