"""Richer inputs and outputs through the real service: office documents and images in, and out
layout blocks with boxes, extracted images, Markdown with boxes, an XLSX of the tables and a
layout preview whose drawn boxes are checked by rendering it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from pdfq.api import create_app
from pdfq.config import Settings
from pdfq.extract.preview import COLOURS
from tests import documents, samples
from tests.helpers import events_of, submit, wait_job

pytestmark = pytest.mark.slow
TOLERANCE = 4.0  # points


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("inputs") / "data",
        workers=2,
        log_format="json",
        log_level="warning",
        dedupe=False,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def run(api: TestClient, data: bytes, name: str, **fields: str) -> tuple[dict[str, Any], Any]:
    response = submit(api, data, name, form=fields)
    assert response.status_code == 202, response.text
    job = wait_job(api, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    return job, api.get(f"/v1/jobs/{job['id']}/result").json()


def near(found: list[float] | tuple[float, ...], expected: tuple[float, ...], keys: str) -> bool:
    """Whether the named edges (``l``eft, ``t``op, ``r``ight, ``b``ottom) agree."""
    index = {"l": 0, "t": 1, "r": 2, "b": 3}
    return all(abs(found[index[k]] - expected[index[k]]) <= TOLERANCE for k in keys)


def block_with(page: dict[str, Any], text: str) -> dict[str, Any]:
    return next(b for b in page["blocks"] if text in b["text"])


def test_a_pdf_with_images_gives_boxes_images_and_references(api: TestClient) -> None:
    data, placed = documents.pdf_with_images()
    job, result = run(api, data, "images.pdf")
    first, second = result["pages"]
    heading = block_with(first, "Annual review 1")
    assert heading["kind"] == "heading"
    assert near(heading["bbox"], placed[0].box, "ltb")
    assert [b["kind"] for b in first["blocks"]] == [
        "heading", "paragraph", "image", "image", "paragraph"
    ]  # fmt: skip
    boxes = sorted(tuple(image["bbox"]) for image in first["images"])
    for found, expected in zip(boxes, documents.PDF_IMAGE_BOXES, strict=True):
        assert near(found, expected, "ltrb")
    # the logo on both pages is one file; the Markdown points at the files
    names = {image["name"] for page in (first, second) for image in page["images"]}
    assert len(names) == 2
    logo = second["images"][0]["name"]
    assert logo in {image["name"] for image in first["images"]}
    markdown = api.get(f"/v1/jobs/{job['id']}/result", params={"format": "markdown"}).text
    for name in names:
        assert f"![image](images/{name})" in markdown
        answer = api.get(f"/v1/jobs/{job['id']}/images/{name}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/png"
        assert answer.content.startswith(b"\x89PNG")
    assert api.get(f"/v1/jobs/{job['id']}/images/0123456789abcdef.png").status_code == 404
    assert api.get(f"/v1/jobs/{job['id']}/images/..%2Finput").status_code in (400, 404)

    boxes_md = api.get(f"/v1/jobs/{job['id']}/result", params={"format": "markdown-boxes"}).text
    assert boxes_md.startswith("<!-- page 1 [0, 0, 595, 842] -->")
    assert "<!-- heading 1 [" in boxes_md
    assert "<!-- image [72, 142, 272, 242] -->" in boxes_md

    without = run(api, data, "images.pdf", images="false")[1]
    assert without["pages"][0]["images"] == []
    assert all(b["kind"] != "image" for b in without["pages"][0]["blocks"])


def colour_at(bitmap: Any, x: float, y: float, scale: float) -> tuple[int, int, int]:
    pixel = bitmap.to_pil().convert("RGB").getpixel((round(x * scale), round(y * scale)))
    return tuple(pixel)


def test_the_layout_preview_draws_each_block_where_it_is(api: TestClient) -> None:
    data, _ = documents.pdf_with_images()
    job, result = run(api, data, "preview.pdf")
    answer = api.get(f"/v1/jobs/{job['id']}/layout.pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    preview = pdfium.PdfDocument(answer.content)
    assert len(preview) == 2
    scale = 2.0
    bitmap = preview[0].render(scale=scale)
    page = result["pages"][0]
    checked = 0
    for block in page["blocks"]:
        x0, top, x1, _bottom = block["bbox"]
        expected = tuple(round(c * 255) for c in COLOURS[block["kind"]])
        # the middle of the box's top edge has the kind's colour
        edge = colour_at(bitmap, (x0 + x1) / 2, top, scale)
        assert all(abs(a - b) <= 40 for a, b in zip(edge, expected, strict=True)), (
            block["kind"], edge, expected,
        )  # fmt: skip
        checked += 1
    assert checked == len(page["blocks"]) >= 4
    # away from every box the page is as it was (white)
    assert colour_at(bitmap, 500, 800, scale) == (255, 255, 255)
    again = api.get(f"/v1/jobs/{job['id']}/layout.pdf")  # kept with the results
    assert again.content == answer.content


def test_a_docx_with_a_table_is_converted_and_its_table_found(api: TestClient) -> None:
    job, result = run(api, documents.docx(), "order.docx")
    assert job["input_type"] == "docx"
    converted = [e for e in events_of(api, job["id"]) if e["type"] == "converted"]
    assert converted[0]["data"]["from"] == "docx"
    assert converted[0]["data"]["by"] == "libreoffice"
    page = result["pages"][0]
    assert block_with(page, "Purchase order 42")["kind"] == "heading"
    assert page["tables"][0]["rows"] == documents.DOCX_ROWS
    table = next(b for b in page["blocks"] if b["kind"] == "table")
    assert table["bbox"] is not None
    assert "Payment is due" in result["text"]
    workbook = load_workbook(io.BytesIO(api.get(f"/v1/jobs/{job['id']}/tables.xlsx").content))
    sheet = workbook[workbook.sheetnames[0]]
    assert workbook.sheetnames == ["p1-t1"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == documents.DOCX_ROWS
    preview = api.get(f"/v1/jobs/{job['id']}/layout.pdf")  # drawn on the converted PDF
    assert preview.status_code == 200


def test_a_20_slide_pptx_gives_every_slide_with_boxes_on_the_right_words(
    api: TestClient,
) -> None:
    data, placed = documents.pptx(20)
    job, result = run(api, data, "deck.pptx")
    assert job["input_type"] == "pptx"
    assert result["page_count"] == 20
    for expected in placed:
        page = result["pages"][expected.page - 1]
        block = block_with(page, f"Slide {expected.page}:")
        _, top, x1, bottom = block["bbox"]
        assert near(block["bbox"], expected.box, "l"), (expected, block["bbox"])
        # the words lie on the first line of the frame, where the generator put them
        assert expected.box[1] - TOLERANCE <= top < bottom <= expected.box[3] + TOLERANCE
        assert x1 <= expected.box[2] + TOLERANCE
        assert f"Revenue grew in region {expected.page}" in page["text"]


def test_a_multi_page_tiff_is_read_with_ocr_and_its_lines_placed(api: TestClient) -> None:
    data, placed = documents.tiff(3)
    job, result = run(api, data, "scan.tif")
    assert job["input_type"] == "tiff"
    assert [p["method"] for p in result["pages"]] == ["ocr"] * 3
    for expected in placed:
        page = result["pages"][expected.page - 1]
        block = block_with(page, "Invoice page")
        (line,) = [line for line in block["lines"] if "Invoice" in line["text"]]
        assert line["text"] == expected.text
        assert near(line["bbox"], expected.box, "ltrb"), (expected, line["bbox"])
        assert 0.5 < line["confidence"] <= 1.0
        assert block["confidence"] is not None
    preview = pdfium.PdfDocument(api.get(f"/v1/jobs/{job['id']}/layout.pdf").content)
    scale = 2.0
    bitmap = preview[0].render(scale=scale)
    line = block_with(result["pages"][0], "Invoice page")["lines"][0]
    x0, top, x1, _ = line["bbox"]
    orange = tuple(round(c * 255) for c in COLOURS["ocr_line"])
    # the line's thin outline runs along its top edge (the block's thicker one may cover the
    # very pixel): look a few pixels around it
    image = bitmap.to_pil().convert("RGB")
    around = [
        image.getpixel((round((x0 + x1) / 2 * scale) + dx, round(top * scale) + dy))
        for dx in range(-3, 4)
        for dy in range(-3, 4)
    ]
    assert any(
        all(abs(a - b) <= 60 for a, b in zip(pixel, orange, strict=True)) for pixel in around
    ), around


def test_png_and_odt_go_through(api: TestClient) -> None:
    job, result = run(api, documents.png(), "receipt.pdf")  # the name does not matter
    assert job["input_type"] == "png"
    assert "Scanned receipt 77" in result["text"]
    job, result = run(api, documents.odt("An OpenDocument letter."), "letter")
    assert job["input_type"] == "odt"
    assert "An OpenDocument letter." in result["text"]


def test_unsupported_and_broken_inputs_end_clearly(api: TestClient, tmp_path) -> None:
    refused = submit(api, samples.HTML_BYTES, "page.html")
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "unsupported_type"
    assert "DOCX" in refused.json()["error"]["message"]
    claimed = submit(api, samples.ELF_BYTES, "program.pdf")
    assert claimed.status_code == 415
    assert claimed.json()["error"]["code"] == "not_a_pdf"
    zipped = submit(api, documents_zip(), "archive.zip")
    assert zipped.status_code == 415

    broken = wait_job(api, submit(api, documents.broken_docx(), "x.docx").json()["id"], timeout=90)
    assert broken["status"] == "failed"
    assert broken["error"]["code"] == "malformed_pdf"
    assert "could not be converted" in broken["error"]["message"]
    bomb = wait_job(api, submit(api, documents.png_bomb(), "bomb.png").json()["id"], timeout=60)
    assert bomb["status"] == "failed"
    assert bomb["error"]["code"] == "unsafe_pdf"


def documents_zip() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "just a zip " * 200)
    return out.getvalue()


def test_office_files_can_be_refused_and_conversion_has_a_time_limit(make_client, tmp_path) -> None:
    closed = make_client(accept_office=False)
    answer = submit(closed, documents.docx(), "order.docx")
    assert answer.status_code == 415
    assert "PDFQ_ACCEPT_OFFICE" in answer.json()["error"]["message"]
    assert submit(closed, documents.png(), "r.png").status_code == 202

    hurried = make_client(
        data_dir=tmp_path / "hurried", convert_time_limit_seconds=0.05, max_attempts=1
    )
    job = wait_job(hurried, submit(hurried, documents.docx(), "order.docx").json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "timeout"
    assert "converting the DOCX file took longer" in job["error"]["message"]
