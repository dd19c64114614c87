"""OCR with the real engines on the scanned test set (tests/scans.py): error rates, page-by-page
decisions in mixed documents, the provider chain's fallback, warm engines, OCR fan-out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from pdfq import results
from pdfq.config import Settings
from pdfq.domain import JobStatus, Options
from pdfq.errors import OcrFailed
from pdfq.extract.document import extract_document
from pdfq.extract.ocr import OcrChain, tesseract
from pdfq.extract.render import render_page
from pdfq.store import events as event_repo
from pdfq.store import jobs as repo
from pdfq.worker.context import WorkerContext
from pdfq.worker.pipeline import run_job
from tests import samples, scans
from tests.helpers import add_job
from tests.integration.test_fanout import run_chunks

pytestmark = pytest.mark.slow

CER_TARGET = {300: 0.02, 150: 0.04}


@pytest.fixture(scope="session")
def scanned_sample() -> scans.ScannedDoc:
    """Three pages scanned at 300 dpi, three at 150 dpi."""
    return scans.compose([300, 300, 300, 150, 150, 150], seed=40)


@pytest.fixture(scope="session")
def mixed_sample() -> scans.ScannedDoc:
    return scans.mixed_pdf("tssts", dpi=200, seed=60)


@pytest.fixture(scope="session")
def chain() -> OcrChain:
    return OcrChain(Settings())


def write(tmp_path: Path, data: bytes) -> Path:
    return samples.write(tmp_path, "doc.pdf", data)


def test_scanned_pages_are_read_within_the_error_rate_targets(
    tmp_path: Path, scanned_sample: scans.ScannedDoc, chain: OcrChain
) -> None:
    document = extract_document(write(tmp_path, scanned_sample.pdf), ocr=chain)
    for i, (page, truth, dpi) in enumerate(
        zip(document.pages, scanned_sample.truths, scanned_sample.dpis, strict=True)
    ):
        assert dpi is not None
        assert (page.method, page.ocr_provider, page.ocr_reason) == (
            "ocr",
            "tesseract",
            "no text layer",
        )
        assert page.ocr_confidence is not None
        assert page.ocr_confidence > 0.8
        error = scans.cer(truth, page.text)
        assert error <= CER_TARGET[dpi], f"page {page.number} at {dpi} dpi: CER {error:.3%}"
        # the same Markdown structure as the born-digital original: a title, then clause
        # headings and paragraphs block for block
        original = extract_document(write(tmp_path, scans.source_page(40 + i).pdf)).pages[0]
        blocks, expected = page.markdown.split("\n\n"), original.markdown.split("\n\n")
        assert blocks[0].lstrip("#").strip().startswith("Agreement No.")
        assert [b.split(" ")[0] for b in blocks[1:]] == [b.split(" ")[0] for b in expected[1:]]
        assert page.tables == []
        assert page.warnings == []


def test_in_a_mixed_document_exactly_the_scanned_pages_go_to_ocr(
    tmp_path: Path, mixed_sample: scans.ScannedDoc, chain: OcrChain
) -> None:
    document = extract_document(write(tmp_path, mixed_sample.pdf), ocr=chain)
    ocr_pages = [p.number for p in document.pages if p.method == "ocr"]
    assert ocr_pages == list(mixed_sample.scanned) == [2, 3, 5]
    for page, truth in zip(document.pages, mixed_sample.truths, strict=True):
        if page.method == "text":
            # born-digital pages keep their text layer: exact, line for line
            assert page.text == truth
            assert page.ocr_provider is None
            assert page.ocr_confidence is None
        else:
            assert scans.cer(truth, page.text) <= 0.02


def test_ocr_never_keeps_the_empty_text_layer_and_always_reads_every_page(
    tmp_path: Path, mixed_sample: scans.ScannedDoc, chain: OcrChain
) -> None:
    path = write(tmp_path, mixed_sample.pdf)
    never = extract_document(path, options=Options(ocr="never"), ocr=chain)
    assert [p.method for p in never.pages] == ["text"] * 5
    assert [bool(p.text) for p in never.pages] == [True, False, False, True, False]

    always = extract_document(path, options=Options(ocr="always", pages="1"), ocr=chain)
    (page,) = always.pages
    assert (page.method, page.ocr_reason) == ("ocr", "requested")
    assert scans.cer(mixed_sample.truths[0], page.text) <= 0.02


def test_a_blank_scanned_page_is_read_as_blank_not_as_a_failure(
    tmp_path: Path, chain: OcrChain
) -> None:
    blank = scans.image_pdf([Image.new("L", (1240, 1754), 245)], dpi=150)
    document = extract_document(write(tmp_path, blank), ocr=chain)
    (page,) = document.pages
    assert (page.method, page.ocr_provider, page.ocr_reason) == (
        "ocr",
        "tesseract",
        "no text layer",
    )
    assert page.text == ""
    assert page.ocr_confidence is None  # nothing read, nothing to be unsure about
    assert page.warnings == []  # not handed to RapidOCR for a second look at nothing


def test_without_an_ocr_chain_pages_needing_ocr_say_so(
    tmp_path: Path, mixed_sample: scans.ScannedDoc
) -> None:
    document = extract_document(write(tmp_path, mixed_sample.pdf), options=Options(pages="2"))
    (page,) = document.pages
    assert page.method == "text"
    assert page.text == ""
    assert page.warnings == ["the page needs OCR (no text layer) but OCR is off"]


def test_a_missing_language_pack_fails_with_its_package_name(
    tmp_path: Path, mixed_sample: scans.ScannedDoc, chain: OcrChain
) -> None:
    path = write(tmp_path, mixed_sample.pdf)
    with pytest.raises(OcrFailed) as caught:
        extract_document(path, options=Options(languages="eng+jpn"), ocr=chain)
    message = caught.value.message
    assert message.startswith("page 2: no OCR provider could read the page")
    assert "language jpn is not installed (Debian package tesseract-ocr-jpn)" in message
    assert "rapidocr does not read jpn" in message
    # an installed second language works
    read = extract_document(path, options=Options(languages="eng+deu", pages="2"), ocr=chain)
    assert scans.cer(mixed_sample.truths[1], read.pages[0].text) <= 0.02


def test_when_tesseract_is_unusable_rapidocr_reads_the_page(
    tmp_path: Path, data_dir: Path, mixed_sample: scans.ScannedDoc
) -> None:
    empty = data_dir / "no-tessdata"
    empty.mkdir(parents=True)
    broken = OcrChain(Settings(ocr_tessdata_dir=str(empty)))
    path = write(tmp_path, mixed_sample.pdf)
    document = extract_document(path, options=Options(pages="2"), ocr=broken)
    (page,) = document.pages
    assert page.ocr_provider == "rapidocr"
    assert page.warnings == [
        f"tesseract failed: PDFQ_OCR_TESSDATA_DIR={empty} holds no *.traineddata"
    ]
    assert page.ocr_confidence is not None
    assert page.ocr_confidence > 0.9
    # RapidOCR's models read the letters but often drop the spaces between English words
    assert scans.cer(mixed_sample.truths[1], page.text, spaces=False) <= 0.02


def test_a_poster_sized_page_is_rendered_within_the_pixel_cap() -> None:
    poster = samples.build_raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>",  # 200 x 200 in
        ]
    )
    document = pdfium.PdfDocument(poster)
    try:
        image = render_page(document, 1, dpi=300, max_pixels=4_000_000)
    finally:
        document.close()
    assert image.mode == "L"
    assert image.width * image.height <= 4_000_000
    assert image.info["dpi"] == (10, 10)


# --- in the worker ----------------------------------------------------------------------------


def test_engines_load_once_per_worker_process_not_per_job(
    ctx: WorkerContext, mixed_sample: scans.ScannedDoc
) -> None:
    before = tesseract.ENGINES_BUILT
    first = add_job(ctx, mixed_sample.pdf, pages="2")
    assert run_job(ctx, first).status == JobStatus.SUCCEEDED
    assert before + 1 == tesseract.ENGINES_BUILT
    second = add_job(ctx, mixed_sample.pdf, pages="3")
    assert run_job(ctx, second).status == JobStatus.SUCCEEDED
    assert before + 1 == tesseract.ENGINES_BUILT  # the second job reused the warm engine
    third = add_job(ctx, mixed_sample.pdf, pages="3", languages="eng+deu")
    assert run_job(ctx, third).status == JobStatus.SUCCEEDED
    assert before + 2 == tesseract.ENGINES_BUILT  # a new language set is a new engine

    pages = repo.list_pages(ctx.db, job_id=second)
    assert [(p.number, p.method, p.ocr_provider) for p in pages] == [(3, "ocr", "tesseract")]
    assert pages[0].ocr_confidence is not None
    assert pages[0].ocr_confidence > 0.8
    events = [e for e in event_repo.list_events(ctx.db, job_id=second) if e.type == "page_ocr"]
    assert [e.data["page"] for e in events] == [3]
    assert events[0].data["reason"] == "no text layer"
    assert events[0].data["worker"] == ctx.owner


def test_a_missing_language_fails_the_job_with_ocr_failed(
    ctx: WorkerContext, mixed_sample: scans.ScannedDoc
) -> None:
    job_id = add_job(ctx, mixed_sample.pdf, pages="1-2", languages="jpn")
    outcome = run_job(ctx, job_id)
    assert outcome.status == JobStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.code == "ocr_failed"
    assert "tesseract-ocr-jpn" in outcome.error.message


def test_a_scanned_document_is_split_so_every_worker_reads_pages(
    make_ctx: Callable[..., WorkerContext], mixed_sample: scans.ScannedDoc
) -> None:
    ctx = make_ctx(ocr_chunk_pages=1)
    enqueued: list[int | None] = []
    ctx.enqueue = lambda job_id, chunk, delay: enqueued.append(chunk)
    job_id = add_job(ctx, mixed_sample.pdf)  # pages 2, 3 and 5 scanned
    assert run_job(ctx, job_id).status == JobStatus.RUNNING
    assert enqueued == [0, 1, 2]
    assert [o.status for o in run_chunks(ctx)] == [JobStatus.RUNNING] * 2 + [JobStatus.SUCCEEDED]

    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert record.result_index is not None
    assert (record.pages_done, record.chunks_total) == (5, 3)
    merged = json.loads(
        results.read_part(
            ctx.blobs, job_id=job_id, attempt=1, index=record.result_index, part="json"
        )
        or b""
    )
    assert [p["method"] for p in merged["pages"]] == ["text", "ocr", "ocr", "text", "ocr"]
    assert scans.cer("\n".join(mixed_sample.truths), merged["text"]) <= 0.02
    kinds = [e.type for e in event_repo.list_events(ctx.db, job_id=job_id)]
    assert kinds.count("page_ocr") == 3
    assert "fanned_out" in kinds


def test_a_document_with_few_scanned_pages_is_not_split(
    make_ctx: Callable[..., WorkerContext], mixed_sample: scans.ScannedDoc
) -> None:
    ctx = make_ctx(ocr_chunk_pages=3)
    job_id = add_job(ctx, mixed_sample.pdf)
    assert run_job(ctx, job_id).status == JobStatus.SUCCEEDED
    record = repo.get_job(ctx.db, job_id=job_id)
    assert record is not None
    assert (record.pages_done, record.chunks_total) == (5, None)
