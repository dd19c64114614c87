"""The converters under test: PDF in, Markdown out (the whole document and per page).

``pdfq``
    ``pdfq.extract.document.extract_document(path)``: its ``markdown``, each page's
    ``markdown``, and the whole result as JSON (blocks with kinds, levels and boxes), kept
    for later use when ``--keep`` is given.
``pymupdf4llm``
    ``pymupdf4llm.to_markdown(path, page_chunks=True)``, the pages' ``text`` joined by blank
    lines. A reference only: it is AGPL-licensed, installed into the venv by hand for the
    benchmark (``.venv/bin/pip install "pymupdf4llm==0.2.9"``), never a dependency of pdfq.
    When it cannot be imported the benchmark runs pdfq alone and says so.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Output:
    markdown: str
    pages: list[str]
    seconds: float
    json: str | None = None
    error: str | None = None


Converter = Callable[[Path], Output]


def run_pdfq(path: Path) -> Output:
    from pdfq.extract.document import extract_document

    start = time.perf_counter()
    result = extract_document(path)
    seconds = time.perf_counter() - start
    return Output(
        markdown=result.markdown,
        pages=[page.markdown for page in result.pages],
        seconds=seconds,
        json=result.model_dump_json(indent=1),
    )


def _pymupdf4llm() -> Any | None:
    try:
        # It prints advice about pymupdf_layout when imported: keep the report clean.
        with contextlib.redirect_stdout(io.StringIO()):
            return importlib.import_module("pymupdf4llm")
    except Exception:
        return None


def pymupdf4llm_version() -> str | None:
    module = _pymupdf4llm()
    return None if module is None else str(getattr(module, "__version__", "?"))


def run_pymupdf4llm(path: Path) -> Output:
    module = _pymupdf4llm()
    if module is None:
        raise RuntimeError("pymupdf4llm is not importable")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        chunks = module.to_markdown(str(path), page_chunks=True, show_progress=False)
    seconds = time.perf_counter() - start
    pages = [str(chunk.get("text", "")) for chunk in chunks]
    return Output(markdown="\n\n".join(p for p in pages if p), pages=pages, seconds=seconds)


def available() -> tuple[dict[str, Converter], list[str]]:
    """The converters that can run here, and notes on those that cannot."""
    converters: dict[str, Converter] = {"pdfq": run_pdfq}
    notes: list[str] = []
    version = pymupdf4llm_version()
    if version is None:
        notes.append(
            "pymupdf4llm is not importable: pdfq runs alone "
            '(.venv/bin/pip install "pymupdf4llm==0.2.9" for the reference; AGPL, never a '
            "dependency)"
        )
    else:
        converters["pymupdf4llm"] = run_pymupdf4llm
    return converters, notes
