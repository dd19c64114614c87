"""An OpenAI-compatible vision endpoint as OCR provider (e.g. vLLM serving DeepSeek-OCR or
olmOCR on a GPU host), used when ``PDFQ_OCR_OPENAI_URL`` is set.

Pages of a batch are sent concurrently (at most ``PDFQ_OCR_OPENAI_CONCURRENCY`` at once), each
with a timeout, and retried with exponential back-off and jitter on time-outs, connection
errors, 429 and 5xx answers. Such models report no confidence: their answers count as trusted.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from pdfq.extract.ocr import OcrResult, OcrUnavailable

if TYPE_CHECKING:
    from pdfq.config import Settings

MAX_SIDE = 2048  # vision models read best at about this size; larger only costs transfer
_FENCE = re.compile(r"^```[a-z]*\n?|\n?```$")


class OpenAiProvider:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self.base = settings.ocr_openai_url.rstrip("/")
        self.url = self.base + "/chat/completions"
        self.model = settings.ocr_openai_model
        self.concurrency = settings.ocr_openai_concurrency
        self.timeout = settings.ocr_openai_timeout_seconds
        self.retries = settings.ocr_openai_retries
        key = settings.ocr_openai_api_key
        self.headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def recognize(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        return asyncio.run(self._all(images, languages))

    async def _all(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        gate = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            if not self.model:
                self.model = await self._first_model(client)

            async def one(image: Image.Image) -> OcrResult | Exception:
                async with gate:
                    try:
                        return await self._page(client, image, languages)
                    except Exception as exc:
                        return exc

            return list(await asyncio.gather(*(one(image) for image in images)))

    async def _first_model(self, client: httpx.AsyncClient) -> str:
        """The model the endpoint serves (vLLM serves one), when none is configured."""
        response = await client.get(self.base + "/models")
        response.raise_for_status()
        models = response.json().get("data") or []
        if not models:
            raise OcrUnavailable(f"{self.base}/models lists no model: set PDFQ_OCR_OPENAI_MODEL")
        return str(models[0]["id"])

    async def _page(
        self, client: httpx.AsyncClient, image: Image.Image, languages: str
    ) -> OcrResult:
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": _prompt(languages)},
                        {"type": "image_url", "image_url": {"url": _data_url(image)}},
                    ],
                }
            ],
        }
        for attempt in range(self.retries + 1):
            try:
                response = await client.post(self.url, json=payload)
                if response.status_code == 429 or response.status_code >= 500:
                    raise httpx.HTTPStatusError(
                        f"{response.status_code} from {self.url}",
                        request=response.request,
                        response=response,
                    )
                response.raise_for_status()
                return OcrResult(_text(response.json()), None, self.name)
            except (httpx.TimeoutException, httpx.TransportError, httpx.HTTPStatusError) as exc:
                retryable = not isinstance(exc, httpx.HTTPStatusError) or (
                    exc.response.status_code == 429 or exc.response.status_code >= 500
                )
                if not retryable or attempt == self.retries:
                    raise
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


def _prompt(languages: str) -> str:
    return (
        "Transcribe all text on this document page exactly, in reading order. "
        f"The page is in: {languages.replace('+', ', ')}. "
        "Answer with the text only, no comments."
    )


def _data_url(image: Image.Image) -> str:
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _text(answer: dict[str, Any]) -> str:
    content = answer["choices"][0]["message"]["content"]
    if isinstance(content, list):  # some servers answer in parts
        content = "".join(part.get("text", "") for part in content)
    return _FENCE.sub("", str(content).strip()).strip()
