"""Recognising uploads by content: first bytes, and a ZIP's central directory at its end."""

from __future__ import annotations

import io
import zipfile

import pytest

from pdfq.formats import HEAD_BYTES, TAIL_BYTES, InputType, sniff, sniff_head, zip_names
from tests import documents, samples


def kind(data: bytes) -> InputType | None:
    return sniff(data[:HEAD_BYTES], data[-TAIL_BYTES:])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (samples.report_pdf(), InputType.PDF),
        (b"junk before\n%PDF-1.4\n" + b"0" * 100, InputType.PDF),
        (documents.png(), InputType.PNG),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, InputType.JPEG),
        (documents.tiff(1)[0], InputType.TIFF),
        (b"MM\x00*" + b"\0" * 100, InputType.TIFF),
        (b"{\\rtf1\\ansi hello}", InputType.RTF),
        (documents.docx(), InputType.DOCX),
        (documents.pptx(2)[0], InputType.PPTX),
        (documents.odt(), InputType.ODT),
        (samples.HTML_BYTES, None),
        (samples.ELF_BYTES, None),
        (b"%PDF-", None),
        (b"", None),
    ],
    ids=lambda value: value.value if isinstance(value, InputType) else None,
)
def test_each_type_is_recognised_by_its_content(data: bytes, expected: InputType | None) -> None:
    assert kind(data) == expected


def test_xlsx_and_a_zip_of_something_else() -> None:
    from openpyxl import Workbook

    out = io.BytesIO()
    Workbook().save(out)
    assert kind(out.getvalue()) == InputType.XLSX
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert kind(plain.getvalue()) is None


def test_a_large_office_file_is_told_from_its_last_bytes() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/media/big.bin", b"x" * (3 * TAIL_BYTES))  # far from the end
        archive.writestr("word/document.xml", "<w:document/>")
    data = out.getvalue()
    assert sniff_head(data[:HEAD_BYTES]) is True  # a ZIP: only the end can tell
    assert "word/document.xml" in zip_names(data[-TAIL_BYTES:])
    assert kind(data) == InputType.DOCX


def test_families() -> None:
    assert InputType.PDF.family == "pdf"
    assert InputType.TIFF.family == "image"
    assert InputType.ODP.family == "office"
    assert zip_names(b"not a zip at all") == set()
