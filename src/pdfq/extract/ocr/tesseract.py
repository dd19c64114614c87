"""Tesseract through its C API (tesserocr): one engine per language set, kept per process.

Language data comes from Debian's ``tesseract-ocr-<lang>`` packages (``PDFQ_OCR_TESSDATA_DIR``
or the usual locations); a language that is not installed is reported by package name. Each
engine runs on one thread: the tesserocr wheel's Tesseract is built without OpenMP, and
``OMP_THREAD_LIMIT=1`` keeps a distribution build that has it from spawning a thread per core
in every worker process (two such processes thrash). Parallelism comes from processes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from pdfq.extract.ocr import OcrLine, OcrResult, OcrUnavailable

if TYPE_CHECKING:
    from pdfq.config import Settings

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before tesseract loads

_SEARCH = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
           "/usr/share/tessdata", "/usr/local/share/tessdata")  # fmt: skip

FONT_PER_X_HEIGHT = 2.1  # a font's size over its x-height (Helvetica 1.9, Times 2.2, Courier 2.4)
MAX_ENGINES = 3  # language sets kept loaded per process
ENGINES_BUILT = 0
"""How many engines this process has built (tests check engines are reused)."""


def find_tessdata(configured: str = "") -> Path:
    """The folder holding ``*.traineddata``: the configured one, then the usual places."""
    if configured:
        if not any(Path(configured).glob("*.traineddata")):
            raise OcrUnavailable(f"PDFQ_OCR_TESSDATA_DIR={configured} holds no *.traineddata")
        return Path(configured)
    for candidate in (os.environ.get("TESSDATA_PREFIX", ""), *_SEARCH):
        if candidate and any(Path(candidate).glob("*.traineddata")):
            return Path(candidate)
    raise OcrUnavailable(
        "no Tesseract language data found: install tesseract-ocr-eng (scripts/setup does)"
    )


class TesseractProvider:
    name = "tesseract"

    def __init__(self, settings: Settings) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._tessdata = find_tessdata(settings.ocr_tessdata_dir)
        self._installed = set(tesserocr.get_languages(str(self._tessdata) + "/")[1])
        self._engines: OrderedDict[str, Any] = OrderedDict()

    def _engine(self, languages: str) -> Any:
        engine = self._engines.get(languages)
        if engine is not None:
            self._engines.move_to_end(languages)
            return engine
        missing = [lang for lang in languages.split("+") if lang not in self._installed]
        if missing:
            packs = ", ".join(f"tesseract-ocr-{lang.replace('_', '-')}" for lang in missing)
            raise OcrUnavailable(
                f"language {'+'.join(missing)} is not installed (Debian package {packs}); "
                f"installed: {'+'.join(sorted(self._installed - {'osd'}))}"
            )
        global ENGINES_BUILT
        engine = self._tesserocr.PyTessBaseAPI(path=str(self._tessdata) + "/", lang=languages)
        engine.SetVariable("tessedit_do_invert", "0")  # scans are dark text on light paper
        ENGINES_BUILT += 1
        self._engines[languages] = engine
        if len(self._engines) > MAX_ENGINES:  # each holds its models in memory
            _, oldest = self._engines.popitem(last=False)
            oldest.End()
        return engine

    def recognize(
        self, images: Sequence[Image.Image], languages: str
    ) -> list[OcrResult | Exception]:
        engine = self._engine(languages)
        answers: list[OcrResult | Exception] = []
        for image in images:
            try:
                engine.SetImage(image)
                engine.SetSourceResolution(int(image.info.get("dpi", (300, 300))[0]))
                text = engine.GetUTF8Text().strip()
                lines = self._lines(engine) if text else ()
                # No text at all is a blank page, not a failure worth another engine's time.
                confidence = max(0, engine.MeanTextConf()) / 100 if text else None
                answers.append(OcrResult(text, confidence, self.name, lines))
            except Exception as exc:
                answers.append(exc)
            finally:
                engine.Clear()
        return answers

    def _lines(self, engine: Any) -> tuple[OcrLine, ...]:
        level = self._tesserocr.RIL.TEXTLINE
        iterator = engine.GetIterator()
        if iterator is None:
            return ()
        found = []
        for item in self._tesserocr.iterate_level(iterator, level):
            if item.Empty(level):
                continue
            text = item.GetUTF8Text(level)
            box = item.BoundingBox(level)
            if not (text and text.strip() and box):
                continue
            # The x-height, measured on the deskewed row, is the same for every line of one
            # font size; the box is not (it grows with skew and with the letters on the line).
            row = item.RowAttributes()
            x_height = row["row_height"] - row["ascenders"] + row["descenders"]
            x0, top, x1, bottom = map(float, box)
            size = x_height * FONT_PER_X_HEIGHT if x_height > 0 else bottom - top
            confidence = item.Confidence(level) / 100
            found.append(OcrLine(" ".join(text.split()), (x0, top, x1, bottom), size, confidence))
        return tuple(found)
