"""The benchmark's driver: documents, PDFs, converters, scores, the report.

See :mod:`bench.structure` for the method and the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2

from bench.structure import converters as conv
from bench.structure.markdown import Structure, parse, read, structure, to_html
from bench.structure.metrics import Tally, score
from bench.structure.render import (
    LAYOUTS,
    RULED_LAYOUTS,
    footer_text,
    header_text,
    print_job,
    printer,
)
from bench.structure.sources import Source, select

DEFAULT_DOCS = 12

ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("order (Levenshtein sim.)", "order", "documents"),
    ("heading precision", "heading_precision", "headings_output"),
    ("heading recall", "heading_recall", "headings_truth"),
    ("heading F1", "heading_f1", "headings_truth"),
    ("heading level acc. (rank)", "heading_level_accuracy", "headings_matched"),
    ("code lines in code blocks", "code_lines", "code_truth"),
    ("list items as list items", "list_items", "lists_truth"),
    ("list depth acc.", "list_depth_accuracy", "lists_found"),
    ("paragraphs whole", "paragraphs", "paragraphs_truth"),
    ("table cells, ruled", "cells_ruled", "ruled_cells_truth"),
    ("table cells, unruled", "cells_unruled", "unruled_cells_truth"),
    ("furniture leak (pages)", "furniture_leak", "furniture_pages"),
    ("seconds", "seconds", "pages"),
    ("pages/s", "pages_per_second", None),
)
"""Report rows: label, figure, and the count shown beside it (n: the truth's, or the
output's for precision, the matched for accuracies, pages for seconds)."""


@dataclass
class Prepared:
    source: Source
    layout: str
    pdf: Path
    pages: int
    truth: Structure


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.structure", description=__doc__)
    parser.add_argument("--docs", type=int, default=DEFAULT_DOCS, help="how many documents")
    parser.add_argument(
        "--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="which layouts"
    )
    parser.add_argument("--json", type=Path, help="write every count and figure here")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep PDFs (a cache across runs), outputs and pdfq's JSON in this folder",
    )
    return parser.parse_args(argv)


def prepare(sources: list[Source], layouts: list[str], folder: Path) -> list[Prepared]:
    """Print every document in every layout; the truth of each."""
    prepared: list[Prepared] = []
    with printer() as chromium:
        for source in sources:
            tokens = parse(source.markdown)
            body = to_html(tokens)
            plain = structure(tokens)
            numbered = structure(tokens, numbered=True)
            for layout in layouts:
                job = print_job(
                    body,
                    layout,
                    title=source.name,
                    header=header_text(source.name, source.version),
                )
                pdf = chromium.print(job, folder, f"{source.slug}.{layout}")
                with pypdfium2.PdfDocument(str(pdf)) as document:
                    pages = len(document)
                truth = numbered if layout == "dense" else plain
                prepared.append(Prepared(source, layout, pdf, pages, truth))
    return prepared


def measure(
    item: Prepared, name: str, convert: conv.Converter, keep: Path | None
) -> tuple[Tally, dict[str, Any]]:
    try:
        output = convert(item.pdf)
    except Exception as exc:  # a converter's failure is a result, not the end of the run
        traceback.print_exc(file=sys.stderr)
        return Tally(documents=1, failures=1, pages=item.pages), {"error": repr(exc)}
    if keep is not None:
        stem = item.pdf.name.removesuffix(".pdf")
        (keep / f"{stem}.{name}.md").write_text(output.markdown, encoding="utf-8")
        if output.json is not None:
            (keep / f"{stem}.{name}.json").write_text(output.json, encoding="utf-8")
    furniture = None
    if item.layout == "header-footer":
        header = header_text(item.source.name, item.source.version)
        printed = [(header, footer_text(n, item.pages)) for n in range(1, item.pages + 1)]
        furniture = (printed, output.pages)
    tally = score(
        item.truth,
        read(output.markdown),
        ruled=item.layout in RULED_LAYOUTS,
        furniture=furniture,
    )
    tally.seconds = output.seconds
    tally.pages = item.pages
    return tally, {}


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    if key == "seconds":
        return f"{value:.1f}"
    if key == "pages_per_second":
        return f"{value:.1f}"
    return f"{value:.3f}"


def table(title: str, tallies: dict[str, Tally]) -> str:
    names = list(tallies)
    figures = {name: tallies[name].figures() for name in names}
    counts = {name: tallies[name].as_dict() for name in names}
    width = 27
    lines = [title, f"  {'metric':<{width}}" + "".join(f"{n:>16}" for n in names)]
    for label, key, count in ROWS:
        values = [figures[n][key] for n in names]
        if all(v is None for v in values):
            continue
        row = f"  {label:<{width}}"
        for name, value in zip(names, values, strict=True):
            text = _cell(value, key)
            if count is not None and key != "order":
                text += f" ({counts[name][count]})"
            row += f"{text:>16}"
        lines.append(row)
    failures = [f"{n}: {tallies[n].failures}" for n in names if tallies[n].failures]
    if failures:
        lines.append("  failures: " + ", ".join(failures))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    converters, notes = conv.available()
    for note in notes:
        print(f"note: {note}")
    sources = select(args.docs)
    print(f"{len(sources)} documents (installed packages' Markdown descriptions):")
    for source in sources:
        print(f"  {source.name} {source.version} ({source.licence}), {len(source.markdown)} chars")

    with tempfile.TemporaryDirectory(prefix="pdfq-structure-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        prepared = prepare(sources, args.layouts, folder)
        render_seconds = time.perf_counter() - t0
        print(
            f"{len(prepared)} PDFs, {sum(p.pages for p in prepared)} pages, "
            f"printed in {render_seconds:.1f} s ({folder if args.keep else 'temporary folder'})"
        )
        if prepared:  # first calls import and warm up; not timed
            for convert in converters.values():
                try:
                    convert(prepared[0].pdf)
                except Exception:
                    traceback.print_exc(file=sys.stderr)

        by_layout: dict[str, dict[str, Tally]] = {
            layout: {name: Tally() for name in converters} for layout in args.layouts
        }
        overall = {name: Tally() for name in converters}
        per_document: list[dict[str, Any]] = []
        for item in prepared:
            for name, convert in converters.items():
                tally, extra = measure(item, name, convert, args.keep)
                by_layout[item.layout][name].add(tally)
                overall[name].add(tally)
                per_document.append(
                    {
                        "document": item.source.name,
                        "layout": item.layout,
                        "converter": name,
                        "pdf": item.pdf.name,
                        "counts": tally.as_dict(),
                        "figures": tally.figures(),
                        **extra,
                    }
                )

    print()
    print("n in parentheses: truth items (precision: output headings; accuracies: matched pairs;")
    print("seconds: pages). Cells 'ruled': layout dense; 'unruled': the other layouts.")
    for layout in args.layouts:
        print()
        print(table(f"layout {layout}", by_layout[layout]))
    print()
    print(table("overall", overall))
    elapsed = time.perf_counter() - started
    print(f"\nrun time {elapsed:.1f} s (printing {render_seconds:.1f} s)")

    if args.json is not None:
        report = {
            "documents": [
                {
                    "name": s.name,
                    "version": s.version,
                    "licence": s.licence,
                    "chars": len(s.markdown),
                }
                for s in sources
            ],
            "converters": list(converters),
            "pymupdf4llm": conv.pymupdf4llm_version(),
            "notes": notes,
            "layouts": {
                layout: {
                    n: {"counts": t.as_dict(), "figures": t.figures()} for n, t in tallies.items()
                }
                for layout, tallies in by_layout.items()
            },
            "overall": {
                n: {"counts": t.as_dict(), "figures": t.figures()} for n, t in overall.items()
            },
            "per_document": per_document,
            "seconds": elapsed,
        }
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0
