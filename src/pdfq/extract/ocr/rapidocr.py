"""RapidOCR (PaddleOCR models on ONNX Runtime, shipped inside the wheel): the second opinion.

Its models read English and Chinese; other languages are declined so the chain moves on.
ONNX Runtime is held to one thread: parallelism comes from processes. Measured on the scanned
test set it is about five times slower than Tesseract and often drops the spaces between
English words (see docs/benchmarks.md): a second opinion, not a first choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from pdfq.extract.ocr import OcrLine, OcrResult, OcrUnavailable

if TYPE_CHECKING:
    from pdfq.config import Settings

SUPPORTED = {"eng", "chi_sim", "chi_tra"}
FONT_PER_BOX = 0.65  # font size over the height of a detected text box
ENGINES_BUILT = 0


class RapidOcrProvider:
    name = "rapidocr"

    def __init__(self, settings: Settings) -> None:
        self._engine: Any = None

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            global ENGINES_BUILT
            self._engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
            ENGINES_BUILT += 1
        return self._engine

    def recognize(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        unsupported = set(languages.split("+")) - SUPPORTED
        if unsupported:
            error = OcrUnavailable(f"rapidocr does not read {'+'.join(sorted(unsupported))}")
            return [error for _ in images]
        engine = self._load()
        answers: list[OcrResult | Exception] = []
        for image in images:
            try:
                # Pages come rendered upright: the 180° classifier would only cost time.
                found, _ = engine(np.asarray(image.convert("RGB")), use_cls=False)
                answers.append(_assemble(found or [], self.name))
            except Exception as exc:
                answers.append(exc)
        return answers


def _assemble(found: list[Any], provider: str) -> OcrResult:
    """Quadrilaterals → lines in reading order (top to bottom, left to right within a row).

    A skewed line's upright box is taller than its letters, so rows are grouped by the
    quadrilateral's centre and the height of its left and right edges."""
    placed = []
    for quad, text, score in found:
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        height = (abs(ys[3] - ys[0]) + abs(ys[2] - ys[1])) / 2
        box = (min(xs), min(ys), max(xs), max(ys))
        size = height * FONT_PER_BOX  # the detector pads its boxes
        placed.append((sum(ys) / 4, height, OcrLine(str(text), box, size, float(score))))
    placed.sort(key=lambda item: (item[0], item[2].box[0]))
    rows: list[list[tuple[float, OcrLine]]] = []
    for centre, height, line in placed:
        if rows and abs(rows[-1][0][0] - centre) < height / 2:
            rows[-1].append((centre, line))
        else:
            rows.append([(centre, line)])
    ordered = [sorted((line for _, line in row), key=lambda ln: ln.box[0]) for row in rows]
    lines = tuple(line for row in ordered for line in row)
    text = "\n".join(" ".join(line.text for line in row) for row in ordered)
    confidence = sum(ln.confidence for ln in lines) / len(lines) if lines else None
    return OcrResult(text, confidence, provider, lines)
