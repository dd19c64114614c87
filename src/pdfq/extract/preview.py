"""The layout preview: the original pages with the detected blocks drawn over them.

Each block of the JSON result is outlined in its kind's colour (:data:`COLOURS`); on OCR
pages every line the engine read is outlined too. The drawing is appended to each page's
content inside its own graphics state, so the page itself is unchanged underneath.

It parses a PDF, so the API never runs it in its own process:
``python -m pdfq.extract.preview INPUT.pdf RESULT.json OUTPUT.pdf`` is run as a child
process with a time and memory limit (``api/routes/results.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pikepdf

from pdfq.domain import Box, DocumentResult, PageResult

COLOURS: dict[str, tuple[float, float, float]] = {
    "heading": (0.85, 0.1, 0.1),  # red
    "paragraph": (0.1, 0.3, 0.9),  # blue
    "list_item": (0.0, 0.6, 0.7),  # teal
    "code": (0.45, 0.45, 0.45),  # grey
    "table": (0.1, 0.65, 0.2),  # green
    "image": (0.75, 0.1, 0.75),  # magenta
    "ocr_line": (0.95, 0.55, 0.0),  # orange
}
LINE_WIDTH = {"ocr_line": 0.5}


def _rectangle(box: Box, height: float, kind: str) -> bytes:
    x0, top, x1, bottom = box
    r, g, b = COLOURS[kind]
    width = LINE_WIDTH.get(kind, 1.2)
    return (
        f"{r:.2f} {g:.2f} {b:.2f} RG {width} w "
        f"{x0:.2f} {height - bottom:.2f} {x1 - x0:.2f} {bottom - top:.2f} re S\n"
    ).encode()


def page_drawing(page: PageResult) -> bytes:
    """The content-stream operators that outline the page's blocks."""
    parts = [b"q [] 0 d\n"]
    for block in page.blocks:
        if block.bbox is not None:
            parts.append(_rectangle(block.bbox, page.height, block.kind))
        if page.method == "ocr":
            parts += [_rectangle(line.bbox, page.height, "ocr_line") for line in block.lines]
    parts.append(b"Q\n")
    return b"".join(parts)


def draw_layout(source: Path, result: DocumentResult, target: Path) -> None:
    with pikepdf.open(source) as pdf:
        for page in result.pages:
            if not 1 <= page.number <= len(pdf.pages) or not page.blocks:
                continue
            target_page = pdf.pages[page.number - 1]
            # The page's own content runs in a saved graphics state, so whatever state it
            # leaves behind (a clip, a transform) does not move the boxes drawn after it.
            target_page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
            target_page.contents_add(pikepdf.Stream(pdf, b"Q\n" + page_drawing(page)))
        pdf.save(target)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m pdfq.extract.preview INPUT.pdf RESULT.json OUT.pdf\n")
        return 2
    source, result_json, target = (Path(a) for a in argv)
    result = DocumentResult.model_validate_json(result_json.read_bytes())
    draw_layout(source, result, target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
