"""OCR logic without engines: which pages go to OCR, the provider chain's fallback, chunking
by OCR pages, render sizes, and Markdown from OCR lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from PIL import Image

from pdfq.config import Settings
from pdfq.domain import OcrMode
from pdfq.errors import OcrFailed
from pdfq.extract.markdown import page_markdown
from pdfq.extract.ocr import OcrChain, OcrLine, OcrResult, OcrUnavailable
from pdfq.extract.ocr.decide import ocr_reason, unmapped_share
from pdfq.extract.ocr.layout import ocr_layout
from pdfq.extract.pdf import Drawing, PageLayout
from pdfq.extract.render import render_scale
from pdfq.worker.pipeline import split_by_ocr

A4 = (595.0, 842.0)
PROSE = "A real text layer with plenty of characters on it. " * 10


def page(text: str = "", *, image_share: float = 0.0, paths: int = 0) -> PageLayout:
    width, height = A4
    drawing = Drawing(image_area=image_share * width * height, paths=paths)
    return PageLayout(1, width, height, text, [], drawing)


@pytest.mark.parametrize(
    ("layout", "mode", "reason"),
    [
        (page(image_share=1.0), OcrMode.AUTO, "no text layer"),
        (page(paths=5000), OcrMode.AUTO, "no text layer"),  # text drawn as outlines
        (page(), OcrMode.AUTO, None),  # a blank page: nothing to read
        (page(paths=10), OcrMode.AUTO, None),  # a few rules, no text
        (page("Scanned by ACME", image_share=0.95), OcrMode.AUTO, "mostly an image"),
        (page(PROSE, image_share=0.95), OcrMode.AUTO, None),  # a real layer over a background
        (page(PROSE, image_share=0.1), OcrMode.AUTO, None),
        (page("\ue001\ue002\ue003 \ufffd\ufffd ok"), OcrMode.AUTO, "unmapped glyphs"),
        (page(image_share=1.0), OcrMode.NEVER, None),
        (page(PROSE), OcrMode.ALWAYS, "requested"),
    ],
)
def test_which_pages_go_to_ocr(layout: PageLayout, mode: OcrMode, reason: str | None) -> None:
    assert ocr_reason(layout, mode) == reason


def test_unmapped_share_counts_private_use_and_replacement_characters() -> None:
    assert unmapped_share("") == 0.0
    assert unmapped_share("abcd") == 0.0
    assert unmapped_share("ab\ufffd\ue000") == 0.5


def test_split_by_ocr_balances_ocr_pages_and_lets_text_pages_ride_along() -> None:
    numbers = list(range(1, 11))
    assert split_by_ocr(numbers, set(numbers), 1) == [(n, n) for n in numbers]
    assert split_by_ocr(numbers, set(numbers), 3) == [(1, 3), (4, 6), (7, 9), (10, 10)]
    # pages 1-3 text, 4-7 scanned, 8-10 text: trailing text pages join the last chunk
    assert split_by_ocr(numbers, {4, 5, 6, 7}, 2) == [(1, 5), (6, 10)]
    assert split_by_ocr([2, 4, 6], {4}, 1) == [(2, 6)]


def test_render_scale_keeps_the_dpi_until_the_pixel_cap() -> None:
    assert render_scale(*A4, dpi=300, max_pixels=40_000_000) == pytest.approx(300 / 72)
    poster = render_scale(14400, 14400, dpi=300, max_pixels=40_000_000)  # 200 x 200 inches
    assert (14400 * poster) ** 2 == pytest.approx(40_000_000)


# --- the provider chain -----------------------------------------------------------------------


class FakeProvider:
    def __init__(self, name: str, answer: Callable[[int], OcrResult | Exception]) -> None:
        self.name = name
        self.answer = answer
        self.seen = 0

    def recognize(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        answers = []
        for _ in images:
            self.seen += 1
            answers.append(self.answer(self.seen))
        return answers


def chain(
    providers: dict[str, FakeProvider], order: str = "tesseract,rapidocr", minimum: float = 0.6
) -> OcrChain:
    settings = Settings(ocr_providers=order, ocr_min_confidence=minimum)
    return OcrChain(settings, providers=providers)


IMAGES = [Image.new("L", (10, 10), 255) for _ in range(3)]


def test_the_first_confident_answer_is_used_and_later_providers_are_not_asked() -> None:
    first = FakeProvider("tesseract", lambda n: OcrResult(f"page {n}", 0.9, "tesseract"))
    second = FakeProvider("rapidocr", lambda n: OcrResult("other", 0.99, "rapidocr"))
    results = chain({"tesseract": first, "rapidocr": second}).recognize(IMAGES, "eng")
    assert [r.text for r in results] == ["page 1", "page 2", "page 3"]
    assert all(r.provider == "tesseract" and r.notes == () for r in results)
    assert second.seen == 0


def test_a_failing_provider_hands_the_page_to_the_next() -> None:
    first = FakeProvider(
        "tesseract",
        lambda n: RuntimeError("engine crashed") if n == 2 else OcrResult("ok", 0.9, "tesseract"),
    )
    second = FakeProvider("rapidocr", lambda n: OcrResult("rescued", 0.8, "rapidocr"))
    results = chain({"tesseract": first, "rapidocr": second}).recognize(IMAGES, "eng")
    assert [r.provider for r in results] == ["tesseract", "rapidocr", "tesseract"]
    assert results[1].text == "rescued"
    assert results[1].notes == ("tesseract failed: engine crashed",)
    assert second.seen == 1  # only the failed page went on


def test_a_weak_answer_goes_on_and_the_most_confident_answer_wins() -> None:
    first = FakeProvider("tesseract", lambda n: OcrResult("weak", 0.3, "tesseract"))
    better = FakeProvider("rapidocr", lambda n: OcrResult("better", 0.5, "rapidocr"))
    results = chain({"tesseract": first, "rapidocr": better}).recognize(IMAGES[:1], "eng")
    assert results[0].text == "better"  # still below 0.6, but the best there is
    assert len(results[0].notes) == 2
    assert "confidence 0.30" in results[0].notes[0]

    worse = FakeProvider("rapidocr", lambda n: OcrResult("worse", 0.1, "rapidocr"))
    results = chain({"tesseract": first, "rapidocr": worse}).recognize(IMAGES[:1], "eng")
    assert results[0].text == "weak"


def test_an_answer_without_confidence_is_trusted() -> None:
    first = FakeProvider("tesseract", lambda n: OcrResult("weak", 0.2, "tesseract"))
    model = FakeProvider("openai", lambda n: OcrResult("from the model", None, "openai"))
    results = chain({"tesseract": first, "openai": model}, "tesseract,openai").recognize(
        IMAGES[:1], "eng"
    )
    assert results[0].text == "from the model"
    assert results[0].confidence is None


def test_when_no_provider_can_read_a_page_the_error_names_every_reason() -> None:
    missing = OcrUnavailable("language jpn is not installed (Debian package tesseract-ocr-jpn)")
    first = FakeProvider("tesseract", lambda n: missing)
    second = FakeProvider("rapidocr", lambda n: OcrUnavailable("rapidocr does not read jpn"))
    with pytest.raises(OcrFailed) as caught:
        chain({"tesseract": first, "rapidocr": second}).recognize(IMAGES[:1], "jpn")
    assert "tesseract-ocr-jpn" in caught.value.message
    assert "rapidocr does not read jpn" in caught.value.message


def test_the_chain_skips_the_openai_provider_without_a_url_and_rejects_unknown_names() -> None:
    assert OcrChain(Settings()).names == ["tesseract", "rapidocr"]
    configured = Settings(ocr_openai_url="http://gpu:8000/v1", ocr_openai_concurrency=4)
    assert OcrChain(configured).names == ["tesseract", "rapidocr", "openai"]
    assert OcrChain(configured).batch_size == 1  # local engines first: page by page
    remote_first = configured.model_copy(update={"ocr_providers": "openai,tesseract"})
    assert OcrChain(remote_first).batch_size == 4
    with pytest.raises(ValueError, match="unknown OCR provider"):
        Settings(ocr_providers="tesseract,abbyy")
    with pytest.raises(OcrFailed, match="no OCR provider"):
        OcrChain(Settings(ocr_providers="")).recognize(IMAGES[:1], "eng")


# --- Markdown from OCR lines ------------------------------------------------------------------


def test_ocr_lines_become_headings_and_paragraphs_by_letter_height_and_spacing() -> None:
    scale = 300 / 72  # pixels per point
    rows = [
        ("Agreement No. 7848-21", 235, 63.0),
        ("1. Delivery and Acceptance", 339, 47.0),
        ("The licensee may terminate all goods listed in Schedule B at a fee of", 411, 39.0),
        ("EUR 61,927.75 per month. Each party will reimburse written notice", 470, 40.0),
        ("of any material breach within 52 days of the Effective Date.", 527, 39.0),
        ("2. Payment Terms", 608, 47.0),
        ("Each party may terminate all goods listed in Schedule B no later", 680, 40.0),
    ]
    lines = tuple(OcrLine(text, (320, top, 2200, top + 60), h, 0.95) for text, top, h in rows)
    result = OcrResult("\n".join(r[0] for r in rows), 0.95, "tesseract", lines)
    layout = ocr_layout(result, page(), scale)
    assert layout.lines[0].top == pytest.approx(235 / scale)
    blocks = page_markdown(layout, []).split("\n\n")
    assert blocks[0] == "# Agreement No. 7848-21"
    assert blocks[1] == "### 1. Delivery and Acceptance"
    assert blocks[2].startswith("The licensee may terminate")
    assert blocks[2].endswith("Date.")
    assert blocks[3] == "### 2. Payment Terms"


def test_text_without_lines_keeps_its_paragraphs() -> None:
    result = OcrResult("First line\nsame paragraph\n\n- a bullet\n\nLast one", None, "openai")
    markdown = page_markdown(ocr_layout(result, page(), 1.0), [])
    assert markdown == "First line same paragraph\n\n- a bullet\n\nLast one"
