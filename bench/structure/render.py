"""Markdown to HTML (markdown-it) to PDF (headless Chromium through Playwright's sync API).

Four layouts, all A4, all from the same HTML body:

``single``
    one column, 11pt sans-serif, 2 cm margins, default table style (no rules);
``two-column``
    CSS ``columns: 2`` on the body, 10pt, no table rules;
``header-footer``
    as ``single``, with Chromium's own running header (``<name> <version> · package
    description``) and footer (``Page X of Y``, the ``pageNumber``/``totalPages`` classes):
    page furniture, which is not part of the ground truth;
``dense``
    a dense technical style: 9pt serif, tight leading, numbered headings (CSS counters: h2
    "2", h3 "2.3", h4 "2.3.1", printed before the heading's text, mirrored by
    :class:`bench.structure.markdown.HeadingCounter` in the truth), monospace code blocks on
    a grey ruled box, tables with a rule around every cell.

Bullets are text markers in every layout (CSS ``list-style-type: "\\2022  "``, "\\2013  " for
nested lists): Chromium paints its default disc markers as vector shapes, with no character in
the text layer, and then neither converter finds a bulleted list item at all (0 of 19 in a
trial run), which would leave the list metric to ordered lists alone.
Code blocks wrap (``pre-wrap``) in every layout, so that no code is cut off at the margin; a
wrapped line then prints as two lines, which the code-line metric counts as missed.
PDFs are named by a hash of their HTML and print options, so a ``--keep`` folder doubles as
a cache across runs.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.browser import CHROMIUM, CHROMIUM_ARGS

LAYOUTS = ("single", "two-column", "header-footer", "dense")
RULED_LAYOUTS = frozenset({"dense"})
"""Layouts whose tables have rules (cell borders); the others print tables without any."""


_BASE_CSS = """
@page { size: A4; }
html { -webkit-print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 11pt;
       line-height: 1.4; color: #000; margin: 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-family: "DejaVu Sans Mono",
      "Liberation Mono", monospace; font-size: 9pt; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { padding: 2pt 6pt; text-align: left; vertical-align: top; }
img { display: none; }
ul { list-style-type: "\\2022  "; }
ul ul { list-style-type: "\\2013  "; }
"""

_LAYOUT_CSS = {
    "single": "",
    "two-column": """
body { columns: 2; column-gap: 1.2cm; font-size: 10pt; }
pre { font-size: 8pt; }
h1, h2, h3, h4 { break-after: avoid; }
""",
    "header-footer": "",
    "dense": """
body { font-family: "DejaVu Serif", "Liberation Serif", serif; font-size: 9pt;
       line-height: 1.2; counter-reset: h2; }
p, ul, ol { margin: 0.35em 0; }
h1 { font-size: 16pt; counter-reset: h2; margin: 0.4em 0; }
h2 { font-size: 13pt; counter-increment: h2; counter-reset: h3; margin: 0.8em 0 0.3em; }
h3 { font-size: 11pt; counter-increment: h3; counter-reset: h4; margin: 0.7em 0 0.3em; }
h4 { font-size: 10pt; counter-increment: h4; margin: 0.6em 0 0.2em; }
h2::before { content: counter(h2) " "; }
h3::before { content: counter(h2) "." counter(h3) " "; }
h4::before { content: counter(h2) "." counter(h3) "." counter(h4) " "; }
pre { font-size: 8pt; background: #f2f2f2; border: 0.5pt solid #888; padding: 4pt 6pt; }
table { font-size: 8.5pt; }
th, td { border: 0.6pt solid #000; padding: 1.5pt 4pt; }
th { background: #e6e6e6; }
""",
}

_MARGINS = {
    "single": {"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"},
    "two-column": {"top": "1.8cm", "bottom": "1.8cm", "left": "1.6cm", "right": "1.6cm"},
    "header-footer": {"top": "2.4cm", "bottom": "2.4cm", "left": "2cm", "right": "2cm"},
    "dense": {"top": "1.4cm", "bottom": "1.4cm", "left": "1.4cm", "right": "1.4cm"},
}


def header_text(name: str, version: str) -> str:
    """The running header of layout ``header-footer``."""
    return f"{name} {version} \u00b7 package description"


def footer_text(page: int, pages: int) -> str:
    """The footer of layout ``header-footer`` on one page, as printed."""
    return f"Page {page} of {pages}"


@dataclass(frozen=True, slots=True)
class PrintJob:
    """One document in one layout: its HTML and Chromium's print options."""

    html: str
    options: dict[str, Any]

    @property
    def key(self) -> str:
        blob = json.dumps([self.html, self.options], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def print_job(body_html: str, layout: str, *, title: str, header: str) -> PrintJob:
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_BASE_CSS}{_LAYOUT_CSS[layout]}</style></head>"
        f"<body>{body_html}</body></html>"
    )
    options: dict[str, Any] = {
        "format": "A4",
        "margin": _MARGINS[layout],
        "print_background": True,
    }
    if layout == "header-footer":
        style = "font-family: sans-serif; font-size: 9px; width: 100%; text-align: center;"
        options.update(
            display_header_footer=True,
            header_template=f'<div style="{style}">{html.escape(header)}</div>',
            footer_template=(
                f'<div style="{style}">Page <span class="pageNumber"></span> of '
                '<span class="totalPages"></span></div>'
            ),
        )
    return PrintJob(document, options)


class Printer:
    """One headless Chromium for many PDFs."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def print(self, job: PrintJob, folder: Path, stem: str) -> Path:
        """The PDF of ``job`` in ``folder`` (reused when it is already there)."""
        path = folder / f"{stem}.{job.key}.pdf"
        if path.exists() and path.stat().st_size > 0:
            return path
        page = self._browser.new_page()
        try:
            page.set_content(job.html, wait_until="load")
            data = page.pdf(**job.options)
        finally:
            page.close()
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path


@contextmanager
def printer() -> Iterator[Printer]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield Printer(browser)
        finally:
            browser.close()
