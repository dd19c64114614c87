"""In-process extraction speed on real documents: pdfq against a plain pypdfium2 text loop.

The documents are the 60 largest born-digital files of the pdf.js test corpus (971 real-world
PDFs from bug reports, ``../shared/corpora/pdfjs`` from the repository root, or
``PDFQ_CORPUS_PDFJS``): files that ``pdftotext`` reads with exit status 0 and with more than
200 non-space characters per page on average, the 60 largest by file size, ``freeculture.pdf``
cut to its first 200 pages (a page selection, as a client would send it). The list is
:data:`FILES`, written here so the set is fixed and reviewable; ``--select`` recomputes it
with pdftotext and prints it (paste it here when the corpus changes).

Both sides run in this process, one document after another (one core), on the same files
and pages, in alternating rounds (baseline, then pdfq); the median of the rounds is reported:

(a) baseline: pypdfium2 opens the file and reads each selected page's text layer
    (``get_textpage().get_text_range()``), nothing else;
(b) pdfq: ``Document(path, options=Options(pages=...))`` (safety scan, pdfium open), every
    page through ``extract_pages`` (text, tables, blocks, images, Markdown), ``check_readable``,
    ``assemble``, then the result serialised to JSON (``model_dump_json``: "result writing").

Reported: pages/s of both and the ratio (b)/(a) per round and their medians (the target is
a ratio of at least 0.30), where (b)'s time goes (the extractor's own ``stage_seconds`` when it
keeps them, summed over the documents, plus this script's timing of opening the Document and
of writing the result), how many pages have at least one table, and the five files slowest
per page in (b). A file that fails on either side is reported and left out of both.

    .venv/bin/python -m bench.real_documents [--rounds 3] [--limit N] [--json out.json]
    .venv/bin/python -m bench.real_documents --select
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdfium2

from bench.harness import median
from pdfq.domain import Options, select_pages
from pdfq.extract.document import Document, assemble

CORPUS = Path(
    os.environ.get("PDFQ_CORPUS_PDFJS")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "pdfjs"
)
"""The pdf.js test files (``PDFQ_CORPUS_PDFJS`` to choose another folder)."""

COUNT = 60
"""How many files the benchmark set has."""
MIN_CHARS_PER_PAGE = 200
"""Non-space characters per page (pdftotext, on average) for a file to count as born-digital."""
PAGES: dict[str, str] = {"freeculture.pdf": "1-200"}
"""Page selections: the benchmark reads only these pages of these files."""

FILES: tuple[str, ...] = (
    "xfa_filled_imm1344e.pdf",  # 3.02 MB, 1 pages, 574 chars/page
    "freeculture.pdf",  # 2.60 MB, 200 pages of 352 (1-200), 1656 chars/page
    "issue19971.pdf",  # 1.73 MB, 6 pages, 713 chars/page
    "issue6127.pdf",  # 1.45 MB, 3 pages, 3773 chars/page
    "tracemonkey_with_editable_annotations.pdf",  # 1.21 MB, 14 pages, 4946 chars/page
    "comments.pdf",  # 1.07 MB, 14 pages, 4945 chars/page
    "issue19239.pdf",  # 1.06 MB, 14 pages, 4945 chars/page
    "tracemonkey_annotation_on_page_8.pdf",  # 1.05 MB, 14 pages, 4945 chars/page
    "tracemonkey_with_annotations.pdf",  # 1.02 MB, 14 pages, 4946 chars/page
    "issue18911.pdf",  # 1.02 MB, 14 pages, 4945 chars/page
    "bug1992868.pdf",  # 1.02 MB, 14 pages, 4945 chars/page
    "tracemonkey_freetext.pdf",  # 1.02 MB, 14 pages, 4946 chars/page
    "issue12337.pdf",  # 1.02 MB, 14 pages, 4945 chars/page
    "tracemonkey.pdf",  # 1.02 MB, 14 pages, 4945 chars/page
    "highlights.pdf",  # 0.97 MB, 14 pages, 4945 chars/page
    "issue1905.pdf",  # 0.92 MB, 1 pages, 2530 chars/page
    "TAMReview.pdf",  # 0.67 MB, 23 pages, 2484 chars/page
    "issue12963.pdf",  # 0.60 MB, 8 pages, 1756 chars/page
    "pdkids.pdf",  # 0.55 MB, 55 pages, 2027 chars/page
    "mixedfonts.pdf",  # 0.41 MB, 1 pages, 267 chars/page
    "issue12295.pdf",  # 0.38 MB, 1 pages, 437 chars/page
    "160F-2019.pdf",  # 0.33 MB, 1 pages, 2249 chars/page
    "calrgb.pdf",  # 0.32 MB, 17 pages, 1762 chars/page
    "issue14821.pdf",  # 0.31 MB, 1 pages, 585 chars/page
    "prefilled_f1040.pdf",  # 0.31 MB, 2 pages, 3471 chars/page
    "issue13931.pdf",  # 0.30 MB, 1 pages, 512 chars/page
    "issue14297.pdf",  # 0.24 MB, 1 pages, 2976 chars/page
    "issue6410.pdf",  # 0.21 MB, 1 pages, 477 chars/page
    "pdfjs_wikipedia.pdf",  # 0.21 MB, 1 pages, 1799 chars/page
    "bug1997343.pdf",  # 0.19 MB, 2 pages, 1024 chars/page
    "bug1669099.pdf",  # 0.19 MB, 1 pages, 1128 chars/page
    "issue6605.pdf",  # 0.17 MB, 1 pages, 232 chars/page
    "issue840.pdf",  # 0.15 MB, 2 pages, 3670 chars/page
    "canvas.pdf",  # 0.15 MB, 2 pages, 1778 chars/page
    "file_pdfjs_test.pdf",  # 0.15 MB, 5 pages, 1579 chars/page
    "issue13201.pdf",  # 0.15 MB, 1 pages, 2585 chars/page
    "pr12564.pdf",  # 0.15 MB, 1 pages, 3900 chars/page
    "chrome-text-selection-markedContent.pdf",  # 0.14 MB, 1 pages, 3705 chars/page
    "bug1815476.pdf",  # 0.13 MB, 1 pages, 1444 chars/page
    "bug886717.pdf",  # 0.13 MB, 1 pages, 3423 chars/page
    "issue14438.pdf",  # 0.13 MB, 1 pages, 4280 chars/page
    "issue6132.pdf",  # 0.12 MB, 1 pages, 2357 chars/page
    "issue1350.pdf",  # 0.12 MB, 3 pages, 750 chars/page
    "ThuluthFeatures.pdf",  # 0.12 MB, 1 pages, 2025 chars/page
    "issue7014.pdf",  # 0.11 MB, 1 pages, 4275 chars/page
    "issue5747.pdf",  # 0.11 MB, 1 pages, 693 chars/page
    "tracemonkey_a11y.pdf",  # 0.11 MB, 1 pages, 4313 chars/page
    "bug1885505.pdf",  # 0.11 MB, 1 pages, 4275 chars/page
    "issue16316.pdf",  # 0.11 MB, 1 pages, 4275 chars/page
    "issue15012.pdf",  # 0.11 MB, 1 pages, 4275 chars/page
    "issue13211.pdf",  # 0.11 MB, 1 pages, 847 chars/page
    "issue17730.pdf",  # 0.10 MB, 2 pages, 486 chars/page
    "issue7454.pdf",  # 0.10 MB, 1 pages, 217 chars/page
    "standard_fonts.pdf",  # 0.09 MB, 14 pages, 328 chars/page
    "annotation-text-widget.pdf",  # 0.09 MB, 1 pages, 661 chars/page
    "issue14117.pdf",  # 0.08 MB, 1 pages, 1075 chars/page
    "issue9972-1.pdf",  # 0.08 MB, 1 pages, 1549 chars/page
    "issue9972-2.pdf",  # 0.08 MB, 1 pages, 1549 chars/page
    "issue9972-3.pdf",  # 0.08 MB, 1 pages, 1549 chars/page
    "bug1883609.pdf",  # 0.08 MB, 1 pages, 780 chars/page
)
"""The benchmark set (``--select`` output): name, and in the comment size, pages read, and
pdftotext's non-space characters per page. 60 files, 532 pages (pdftotext failed on 26 of
the 971 files)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    size: int
    pages: int
    chars_per_page: float


def _pdftotext(path: Path) -> Candidate | None:
    """The file's size, page count and non-space characters per page per pdftotext; ``None``
    when pdftotext fails (exit status not 0, or more than a minute)."""
    try:
        done = subprocess.run(
            ["pdftotext", "-q", "-enc", "UTF-8", str(path), "-"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    text = done.stdout.decode("utf-8", "replace")
    pages = text.count("\f")  # pdftotext ends every page with a form feed
    if pages == 0:
        return None
    chars = sum(1 for c in text if not c.isspace())
    return Candidate(path.name, path.stat().st_size, pages, chars / pages)


def select(corpus: Path) -> tuple[list[Candidate], int, int]:
    """The benchmark set, recomputed; also how many files were read and how many failed."""
    paths = sorted(corpus.glob("*.pdf"))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        found = list(pool.map(_pdftotext, paths))
    readable = [c for c in found if c is not None]
    digital = [c for c in readable if c.chars_per_page > MIN_CHARS_PER_PAGE]
    digital.sort(key=lambda c: (-c.size, c.name))
    return digital[:COUNT], len(paths), len(paths) - len(readable)


def print_selection(corpus: Path) -> None:
    chosen, read, failed = select(corpus)
    print(
        f"{read} files in {corpus}; pdftotext failed on {failed}; "
        f"{len(chosen)} largest with > {MIN_CHARS_PER_PAGE} non-space characters per page:"
    )
    print("FILES: tuple[str, ...] = (")
    total = 0
    for c in chosen:
        spec = PAGES.get(c.name)
        pages = len(select_pages(spec, c.pages))
        total += pages
        cut = f" of {c.pages} ({spec})" if spec else ""
        print(
            f'    "{c.name}",  # {c.size / 1e6:.2f} MB, {pages} pages{cut}, '
            f"{c.chars_per_page:.0f} chars/page"
        )
    print(")")
    print(f"# {len(chosen)} files, {total} pages")


@dataclass(slots=True)
class FileRun:
    """One file on one side in one round."""

    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    stages: dict[str, float] = field(default_factory=dict)
    table_pages: int = 0


def _describe(exc: Exception) -> str:
    """The exception and where it was raised (the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}: {exc}"


def baseline_file(path: Path) -> FileRun:
    """(a): the selected pages' text layers, with pypdfium2 and nothing else."""
    run = FileRun()
    started = time.perf_counter()
    try:
        pdf = pypdfium2.PdfDocument(path)
        try:
            for number in select_pages(PAGES.get(path.name), len(pdf)):
                page = pdf[number - 1]
                textpage = page.get_textpage()
                textpage.get_text_range()
                textpage.close()
                page.close()
                run.pages += 1
        finally:
            pdf.close()
    except Exception as exc:
        run.error = _describe(exc)
    run.seconds = time.perf_counter() - started
    return run


def pdfq_file(path: Path) -> FileRun:
    """(b): what ``extract_document`` does, timed in parts, then the result written as JSON."""
    run = FileRun()
    stages: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    try:
        doc = Document(path, options=Options(pages=PAGES.get(path.name)))
        opened = time.perf_counter()
        stages["open/scan"] += opened - started
        try:
            pages = list(doc.extract_pages(doc.page_numbers))
            extracted = time.perf_counter()
            stages["pages (extract_pages)"] += extracted - opened
            doc.check_readable(pages)
            result = assemble(
                job_id="bench",
                filename=path.name,
                page_count=doc.page_count,
                metadata=doc.metadata,
                pages=pages,
            )
            assembled = time.perf_counter()
            stages["check + assemble"] += assembled - extracted
            result.model_dump_json()
            stages["result writing"] += time.perf_counter() - assembled
            reported: dict[str, float] = getattr(doc, "stage_seconds", {})
            for name, seconds in reported.items():
                stages[f"stage_seconds[{name}]"] += seconds
            run.pages = len(pages)
            run.table_pages = sum(1 for p in pages if p.tables)
        finally:
            closing = time.perf_counter()
            doc.close()
            stages["close"] += time.perf_counter() - closing
    except Exception as exc:
        run.error = _describe(exc)
    run.seconds = time.perf_counter() - started
    run.stages = dict(stages)
    return run


def corpus_files(names: Iterable[str]) -> tuple[list[Path], list[str]]:
    """The files of the set that exist, and the names of those missing."""
    found: list[Path] = []
    missing: list[str] = []
    for name in names:
        if (CORPUS / name).is_file():
            found.append(CORPUS / name)
        else:
            missing.append(name)
    return found, missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--select", action="store_true", help="recompute the set and print it")
    parser.add_argument("--json", type=Path, default=None, help="save the figures here")
    args = parser.parse_args()
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # a warning per odd font descriptor
    if not CORPUS.is_dir():
        raise SystemExit(f"no corpus at {CORPUS} (set PDFQ_CORPUS_PDFJS)")
    if args.select:
        print_selection(CORPUS)
        return
    if not FILES:
        raise SystemExit("FILES is empty: run --select and paste its list into this module")
    paths, missing = corpus_files(FILES[: args.limit])
    for name in missing:
        print(f"missing from {CORPUS}: {name}")
    run_benchmark(paths, args.rounds, args.json)


def run_benchmark(paths: list[Path], rounds: int, save: Path | None) -> None:
    # Warm both sides (imports, pdfplumber's first use) on one page so round 1 is not billed.
    warm = paths[0]
    with Document(warm, options=Options(pages="1")) as doc:
        list(doc.extract_pages(doc.page_numbers))
    baseline_file(warm)

    names = [p.name for p in paths]
    baseline_runs: list[dict[str, FileRun]] = []
    pdfq_runs: list[dict[str, FileRun]] = []
    for _ in range(rounds):
        baseline_runs.append({p.name: baseline_file(p) for p in paths})
        pdfq_runs.append({p.name: pdfq_file(p) for p in paths})

    failures: dict[str, str] = {}
    for side, runs in (("baseline", baseline_runs), ("pdfq", pdfq_runs)):
        for one in runs:
            for name, run in one.items():
                if run.error and name not in failures:
                    failures[name] = f"{side}: {run.error}"
    good = [n for n in names if n not in failures]
    pages = sum(pdfq_runs[0][n].pages for n in good)
    print(f"{len(paths)} files from {CORPUS}, {pages} pages read by both sides")
    for name, error in failures.items():
        print(f"  failed, left out: {name}: {error}")
    if not good:
        raise SystemExit("every file failed")

    per_round = []
    print(f"\n{'round':>6} {'baseline pages/s':>17} {'pdfq pages/s':>13} {'ratio':>6}")
    for i, (a, b) in enumerate(zip(baseline_runs, pdfq_runs, strict=True)):
        raw = sum(a[n].pages for n in good) / sum(a[n].seconds for n in good)
        ours = sum(b[n].pages for n in good) / sum(b[n].seconds for n in good)
        per_round.append({"baseline": raw, "pdfq": ours, "ratio": ours / raw})
        print(f"{i + 1:>6} {raw:>17.1f} {ours:>13.1f} {ours / raw:>6.3f}")
    medians = {key: median([r[key] for r in per_round]) for key in ("baseline", "pdfq", "ratio")}
    verdict = "meets" if medians["ratio"] >= 0.30 else "misses"
    print(
        f"{'median':>6} {medians['baseline']:>17.1f} {medians['pdfq']:>13.1f} "
        f"{medians['ratio']:>6.3f}  ({verdict} the target ratio of 0.30)"
    )

    # Where pdfq's time goes: the median round's totals per stage.
    stage_names = sorted({s for b in pdfq_runs for n in good for s in b[n].stages})
    stage_totals = {
        s: median([sum(b[n].stages.get(s, 0.0) for n in good) for b in pdfq_runs])
        for s in stage_names
    }
    total = median([sum(b[n].seconds for n in good) for b in pdfq_runs])
    print(f"\npdfq time by stage (median of {rounds} rounds, summed over the files):")
    print(f"  {'stage':<32} {'seconds':>8} {'share':>6} {'ms/page':>8}")
    order = ["open/scan", "pages (extract_pages)", "check + assemble", "result writing", "close"]
    mine = [s for s in order if s in stage_totals]
    reported = [s for s in stage_names if s.startswith("stage_seconds[")]
    for s in [*mine, *reported]:
        t = stage_totals[s]
        print(f"  {s:<32} {t:>8.2f} {t / total:>6.1%} {t / pages * 1000:>8.2f}")
    print(f"  {'total':<32} {total:>8.2f} {1:>6.0%} {total / pages * 1000:>8.2f}")
    if reported:
        inside = sum(stage_totals[s] for s in reported)
        nested = " (some stages run inside others)" if inside > total else ""
        print(f"  (stage_seconds sum to {inside:.2f} s of {total:.2f} s{nested})")
    else:
        print("  (the Document keeps no stage_seconds: only this script's timings)")

    table_pages = pdfq_runs[-1]
    with_tables = sum(table_pages[n].table_pages for n in good)
    print(f"\npages with at least one table: {with_tables} of {pages}")

    per_page = {
        n: median([b[n].seconds for b in pdfq_runs]) / max(1, pdfq_runs[0][n].pages) for n in good
    }
    slowest = sorted(good, key=lambda n: -per_page[n])[:5]
    print("\nslowest files per page in pdfq (median seconds):")
    for n in slowest:
        last = pdfq_runs[-1][n]
        raw = median([a[n].seconds for a in baseline_runs]) / max(1, last.pages)
        top = sorted(
            ((s, t) for s, t in last.stages.items() if s.startswith("stage_seconds[")),
            key=lambda item: -item[1],
        )[:2]
        where = ", ".join(f"{s[14:-1]} {t:.2f}s" for s, t in top)
        print(
            f"  {n:<44} {last.pages:>4} pages {per_page[n] * 1000:>8.1f} ms/page "
            f"(baseline {raw * 1000:.1f}){'  ' + where if where else ''}"
        )

    if save is not None:
        figures: dict[str, Any] = {
            "corpus": str(CORPUS),
            "files": names,
            "pages": pages,
            "failures": failures,
            "rounds": per_round,
            "median": medians,
            "stage_seconds": stage_totals,
            "total_seconds": total,
            "pages_with_tables": with_tables,
            "seconds_per_page": per_page,
        }
        save.write_text(json.dumps(figures, indent=2))
        print(f"\nfigures saved to {save}")


if __name__ == "__main__":
    main()
