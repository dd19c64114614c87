"""The OpenAI-compatible OCR provider against a small local server that speaks the protocol
(``GET /v1/models``, ``POST /v1/chat/completions`` with an image in a data URL), standing in
for a vLLM host serving an OCR model: batches, bounded concurrency, retries, time-outs, and
fallback to the next provider."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tesserocr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from pdfq.config import Settings
from pdfq.domain import Options
from pdfq.extract.document import extract_document
from pdfq.extract.ocr import OcrChain
from pdfq.extract.ocr.tesseract import find_tessdata
from tests import samples, scans
from tests.helpers import free_port

pytestmark = pytest.mark.slow


@dataclass
class FakeModel:
    """What the server answers, and what it saw."""

    delay: float = 0.0
    failures: list[int] = field(default_factory=list)
    """Status codes to answer with, one per request, before answering properly."""
    transcribe: bool = False
    """Read the page for real (Tesseract inside the server) instead of describing it."""
    fence: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def fake_app(model: FakeModel) -> FastAPI:
    app = FastAPI()
    engine = tesserocr.PyTessBaseAPI(path=f"{find_tessdata()}/", lang="eng")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-ocr", "object": "model"}]}

    @app.post("/v1/chat/completions")
    def complete(body: dict[str, Any], request: Request) -> Any:
        with model.lock:
            model.in_flight += 1
            model.max_in_flight = max(model.max_in_flight, model.in_flight)
            status = model.failures.pop(0) if model.failures else 200
        try:
            time.sleep(model.delay)
            content = body["messages"][0]["content"]
            url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
            prompt = next(p["text"] for p in content if p["type"] == "text")
            header, _, data = url.partition(",")
            image = Image.open(io.BytesIO(base64.b64decode(data)))
            model.requests.append(
                {
                    "auth": request.headers.get("authorization"),
                    "model": body["model"],
                    "prompt": prompt,
                    "format": (header, image.format, image.size),
                }
            )
            if status != 200:
                return JSONResponse({"error": {"message": "busy"}}, status_code=status)
            if model.transcribe:
                with model.lock:
                    engine.SetImage(image)
                    text = engine.GetUTF8Text()
            else:
                text = f"a page of {image.size[0]}x{image.size[1]} pixels"
            if model.fence:
                text = f"```text\n{text}\n```"
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        finally:
            with model.lock:
                model.in_flight -= 1

    return app


@pytest.fixture
def endpoint() -> Iterator[Callable[[FakeModel], str]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(model: FakeModel) -> str:
        port = free_port()
        config = uvicorn.Config(fake_app(model), host="127.0.0.1", port=port, log_level="error")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the fake OCR server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def scanned() -> scans.ScannedDoc:
    return scans.compose([200, 200, 200, 200, 200], seed=80)


def read(
    tmp_path: Path, doc: scans.ScannedDoc, url: str, pages: str | None = None, **settings: Any
) -> list[Any]:
    chain = OcrChain(Settings(ocr_openai_url=url, **settings))
    path = samples.write(tmp_path, "scan.pdf", doc.pdf)
    return extract_document(path, options=Options(pages=pages), ocr=chain).pages


def test_pages_go_out_in_batches_with_bounded_concurrency(
    tmp_path: Path, endpoint: Callable[[FakeModel], str], scanned: scans.ScannedDoc
) -> None:
    model = FakeModel(delay=0.3, fence=True)
    url = endpoint(model)
    pages = read(
        tmp_path,
        scanned,
        url,
        ocr_providers="openai",
        ocr_openai_concurrency=3,
        ocr_openai_api_key="sekret",
    )
    assert [(p.method, p.ocr_provider, p.ocr_confidence) for p in pages] == [
        ("ocr", "openai", None)
    ] * 5
    assert pages[0].text == "a page of 1449x2048 pixels"  # fences stripped, image scaled down
    assert model.max_in_flight == 3  # five pages: a batch of three, then two
    assert len(model.requests) == 5
    first = model.requests[0]
    assert first["auth"] == "Bearer sekret"
    assert first["model"] == "fake-ocr"  # none configured: the first model the server lists
    assert first["format"] == ("data:image/png;base64", "PNG", (1449, 2048))
    assert "eng" in first["prompt"]


def test_busy_answers_are_retried_with_back_off(
    tmp_path: Path, endpoint: Callable[[FakeModel], str], scanned: scans.ScannedDoc
) -> None:
    model = FakeModel(failures=[503, 429])
    url = endpoint(model)
    pages = read(tmp_path, scanned, url, "1", ocr_providers="openai", ocr_openai_model="m")
    assert pages[0].ocr_provider == "openai"
    assert len(model.requests) == 3
    assert model.requests[0]["model"] == "m"


def test_a_time_out_or_refusal_hands_the_page_to_the_next_provider(
    tmp_path: Path, endpoint: Callable[[FakeModel], str], scanned: scans.ScannedDoc
) -> None:
    slow = FakeModel(delay=2.0)
    pages = read(
        tmp_path,
        scanned,
        endpoint(slow),
        "1",
        ocr_providers="openai,tesseract",
        ocr_openai_timeout_seconds=0.3,
        ocr_openai_retries=1,
    )
    assert pages[0].ocr_provider == "tesseract"
    assert pages[0].warnings[0].startswith("openai failed")
    assert scans.cer(scanned.truths[0], pages[0].text) <= 0.02

    refusing = FakeModel(failures=[400])
    pages = read(tmp_path, scanned, endpoint(refusing), "1", ocr_providers="openai,tesseract")
    assert pages[0].ocr_provider == "tesseract"
    assert len(refusing.requests) == 1  # a client error is not retried


def test_an_unreachable_endpoint_is_a_failed_provider_not_a_crash(
    tmp_path: Path, scanned: scans.ScannedDoc
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    pages = read(tmp_path, scanned, url, "1", ocr_providers="openai,tesseract")
    assert pages[0].ocr_provider == "tesseract"
    assert "openai failed" in pages[0].warnings[0]


def test_the_page_image_sent_is_good_enough_to_read(
    tmp_path: Path, endpoint: Callable[[FakeModel], str], scanned: scans.ScannedDoc
) -> None:
    model = FakeModel(transcribe=True)
    pages = read(tmp_path, scanned, endpoint(model), "2", ocr_providers="openai")
    assert pages[0].ocr_provider == "openai"
    assert scans.cer(scanned.truths[1], pages[0].text) <= 0.02
