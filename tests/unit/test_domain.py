"""Page ranges, options validation and ids."""

from __future__ import annotations

import time
import uuid

import pytest
from pydantic import ValidationError

from pdfq.domain import JobStatus, Options, new_id, parse_page_ranges, select_pages


def test_page_ranges_parse_single_pages_ranges_and_open_ends() -> None:
    assert parse_page_ranges("1-5,8, 10-") == [(1, 5), (8, 8), (10, None)]


@pytest.mark.parametrize("spec", ["0", "5-3", "a", "1-2-3", "", "1,,2", "-4"])
def test_page_ranges_reject_nonsense(spec: str) -> None:
    with pytest.raises(ValueError, match="page range"):
        parse_page_ranges(spec)


def test_select_pages_clamps_to_the_document_and_dedupes() -> None:
    assert select_pages("2-3,3,9-,1", page_count=10) == [1, 2, 3, 9, 10]
    assert select_pages(None, page_count=3) == [1, 2, 3]
    assert select_pages("5-8", page_count=3) == []


def test_options_normalise_pages_and_validate_languages() -> None:
    assert Options(pages=" 1 - 3 , 5 ").pages == "1-3,5"
    assert Options(pages="  ").pages is None
    assert Options(languages="eng+deu").languages == "eng+deu"
    with pytest.raises(ValidationError):
        Options(languages="eng; rm -rf /")
    with pytest.raises(ValidationError):
        Options(priority=11)
    with pytest.raises(ValidationError):
        Options.model_validate({"ocr": "sometimes"})
    with pytest.raises(ValidationError):
        Options.model_validate({"colour": "blue"})


def test_ids_are_uuid7_and_strictly_increase() -> None:
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    first_ms = int(ids[0].replace("-", "")[:12], 16)
    assert abs(first_ms - time.time() * 1000) < 5_000


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.is_terminal} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
    }
