"""OCR for pages without a usable text layer: the provider protocol and the fallback chain.

Providers (``tesseract``, ``rapidocr``, ``openai``) sit behind one small protocol and are tried
in the order of ``PDFQ_OCR_PROVIDERS``: a page whose provider fails, cannot serve its
languages, or answers below ``PDFQ_OCR_MIN_CONFIDENCE`` goes to the next one; the best answer
wins. Engines are built on first use and kept for the life of the worker process (DESIGN
invariant 5), one per language set.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from pdfq.errors import OcrFailed

if TYPE_CHECKING:
    from pdfq.config import Settings


@dataclass(frozen=True, slots=True)
class OcrLine:
    """A recognised line: its text, box in image pixels (x0, top, x1, bottom), its estimated
    font size in pixels (the same for every line of one size, whatever letters it holds) and
    the confidence (0 to 1)."""

    text: str
    box: tuple[float, float, float, float]
    size: float
    confidence: float


@dataclass(frozen=True, slots=True)
class OcrResult:
    text: str
    confidence: float | None
    """Mean confidence, 0 to 1; ``None`` for providers that report none (trusted as given)."""
    provider: str
    lines: tuple[OcrLine, ...] = field(default=())
    """Lines with positions, when the provider reports them (for Markdown structure)."""
    notes: tuple[str, ...] = field(default=())
    """Why earlier providers in the chain were passed over for this page."""

    @property
    def trust(self) -> float:
        return 1.0 if self.confidence is None else self.confidence


class OcrUnavailable(Exception):
    """The provider cannot serve this request (e.g. a language it does not have)."""


class OcrProvider(Protocol):
    name: str

    def recognize(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        """Recognise each image; a failure is returned in its place, not raised."""
        ...


_PROVIDERS = {
    "tesseract": "pdfq.extract.ocr.tesseract:TesseractProvider",
    "rapidocr": "pdfq.extract.ocr.rapidocr:RapidOcrProvider",
    "openai": "pdfq.extract.ocr.openai_compat:OpenAiProvider",
}


class OcrChain:
    """Providers tried in order per page, built lazily and kept for the process."""

    def __init__(
        self, settings: Settings, *, providers: Mapping[str, OcrProvider] | None = None
    ) -> None:
        """``providers`` replaces named providers with ready ones (tests, embedding)."""
        self.settings = settings
        self.names = [n.strip() for n in settings.ocr_providers.split(",") if n.strip()]
        self._built: dict[str, OcrProvider] = dict(providers or {})
        unknown = set(self.names) - set(_PROVIDERS) - set(self._built)
        if unknown:
            raise ValueError(f"unknown OCR provider(s): {', '.join(sorted(unknown))}")
        if "openai" in self.names and not settings.ocr_openai_url and "openai" not in self._built:
            self.names.remove("openai")

    def provider(self, name: str) -> OcrProvider:
        if name not in self._built:
            module, _, cls = _PROVIDERS[name].partition(":")
            factory = getattr(importlib.import_module(module), cls)
            self._built[name] = factory(self.settings)
        return self._built[name]

    @property
    def batch_size(self) -> int:
        """How many pages are worth reading together: a remote endpoint asked first takes a
        batch at once; local engines read one page at a time (so progress shows per page)."""
        remote_first = bool(self.names) and self.names[0] == "openai"
        return self.settings.ocr_openai_concurrency if remote_first else 1

    def recognize(self, images: Sequence[Image.Image], languages: str) -> list[OcrResult]:
        """The best result per image. Raises :class:`OcrFailed` if no provider could read one."""
        if not self.names:
            raise OcrFailed("no OCR provider is enabled (PDFQ_OCR_PROVIDERS)")
        best: list[OcrResult | None] = [None] * len(images)
        notes: list[list[str]] = [[] for _ in images]
        pending = list(range(len(images)))
        for name in self.names:
            if not pending:
                break
            try:
                answers = self.provider(name).recognize([images[i] for i in pending], languages)
            except Exception as exc:  # the provider itself is unusable here
                answers = [exc] * len(pending)
            still = []
            for i, answer in zip(pending, answers, strict=True):
                if isinstance(answer, Exception):
                    notes[i].append(f"{name} failed: {answer}")
                    still.append(i)
                    continue
                current = best[i]
                if current is None or answer.trust > current.trust:
                    best[i] = answer
                if answer.trust < self.settings.ocr_min_confidence:
                    notes[i].append(
                        f"{name} answered with confidence {answer.trust:.2f}, "
                        f"below {self.settings.ocr_min_confidence:g}"
                    )
                    still.append(i)  # a weak answer: let the next provider try
            pending = still
        results = []
        for i, result in enumerate(best):
            if result is None:
                raise OcrFailed("no OCR provider could read the page: " + "; ".join(notes[i]))
            results.append(dataclasses.replace(result, notes=tuple(notes[i])))
        return results


__all__ = ["OcrChain", "OcrLine", "OcrProvider", "OcrResult", "OcrUnavailable"]
