"""File-name sanitising for uploads."""

from __future__ import annotations

import pytest

from pdfq.api.upload import sanitize_filename
from pdfq.formats import PDF_SIGNATURE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\scan.pdf", "scan.pdf"),
        ("evil\r\nX-Header: 1.pdf", "evil__X-Header_ 1.pdf".replace("_ ", ": ")),
        ('quo"te.pdf', "quo_te.pdf"),
        ("", "document.pdf"),
        (None, "document.pdf"),
        ("..", "document.pdf"),
        ("é" * 300 + ".pdf", "é" * 200),
    ],
)
def test_sanitize_filename(raw: str | None, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_signature_needs_a_version() -> None:
    assert PDF_SIGNATURE.search(b"junk\n%PDF-1.7\n")
    assert not PDF_SIGNATURE.search(b"%PDF-\n")
