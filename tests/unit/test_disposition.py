"""Content-Disposition values for any file name."""

from __future__ import annotations

from pdfq.api.disposition import attachment, inline


def test_a_plain_name_appears_as_is() -> None:
    assert inline("report.md") == "inline; filename=\"report.md\"; filename*=UTF-8''report.md"


def test_quotes_backslashes_and_non_ascii_cannot_break_the_header() -> None:
    value = attachment('Bericht "Q3" \\ Übersicht.md')
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "Bericht Q3  bersicht.md"
    assert value.endswith("filename*=UTF-8''Bericht%20%22Q3%22%20%5C%20%C3%9Cbersicht.md")


def test_control_characters_are_dropped_or_escaped() -> None:
    value = attachment("a\r\nSet-Cookie: x.md")
    assert "\r" not in value
    assert "\n" not in value
    assert value.startswith('attachment; filename="aSet-Cookie: x.md"')


def test_a_name_with_nothing_printable_still_gets_a_fallback() -> None:
    assert inline("報告.md").startswith('inline; filename=".md"')
    assert inline("報告").startswith('inline; filename="download"')
