"""Scores of one converter's Markdown against the ground truth, and their sums.

Normalisation. ``text``: Unicode NFKC, whitespace runs to one space (the reading-order
metric and code lines: case and punctuation kept). ``key``: NFKC, case-folded, every run of
characters other than letters and digits to one space (headings, list items, paragraphs,
table cells, page furniture), so "2.3 Timeouts" is "2 3 timeouts".

Matching (:func:`match`) is one-to-one: equal keys first, then, for each truth item left in
document order, the most similar output item left with ``rapidfuzz.fuzz.ratio`` >= 90
(Indel similarity 0.9).

Metrics (counts are summed over the documents of a layout before dividing, except the
reading-order similarity, which is a mean over documents):

- order: ``Levenshtein.normalized_similarity`` of the truth's body text and the output's
  (both as parsed inline text, ``text``-normalised), in reading order;
- headings: precision, recall and F1 of matched heading texts; level accuracy on matched
  pairs, levels compared by rank (each document's distinct levels, truth and output apart,
  sorted and numbered 1, 2, ...);
- code lines: share of truth code lines (``text``-normalised, non-empty) equal to a line of an
  output code block (fenced or indented), one-to-one;
- list items: share of truth list items matched by an output list item; depth accuracy on
  those (nesting depth, 1 = top level, compared as is);
- paragraphs: share of truth paragraphs (outside lists) matched by one output paragraph;
- table cells: share of truth cells (non-empty) matched by a cell of some output table, for
  ruled tables (layout "dense") and unruled ones (the other layouts) apart;
- furniture (layout "header-footer"): share of pages whose output (that page's Markdown)
  holds the running header or that page's "Page X of Y" footer.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass, fields

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bench.structure.markdown import Structure

CUTOFF = 90.0
_NON_WORD = re.compile(r"[\W_]+")


def norm_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def norm_key(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def match(truth: list[str], output: list[str], *, fuzzy: bool = True) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, output index) of equal, then similar, keys."""
    free: dict[str, list[int]] = defaultdict(list)
    for j, key in enumerate(output):
        if key:
            free[key].append(j)
    pairs: list[tuple[int, int]] = []
    left: list[int] = []
    for i, key in enumerate(truth):
        if key and free.get(key):
            pairs.append((i, free[key].pop(0)))
        elif key:
            left.append(i)
    if fuzzy and left:
        choices = {j: key for key, js in free.items() for j in js}
        for i in left:
            if not choices:
                break
            found = process.extractOne(truth[i], choices, scorer=fuzz.ratio, score_cutoff=CUTOFF)
            if found is not None:
                j = found[2]
                pairs.append((i, j))
                del choices[j]
    return pairs


def ranks(levels: list[int]) -> dict[int, int]:
    return {level: rank for rank, level in enumerate(sorted(set(levels)), start=1)}


@dataclass
class Tally:
    """Counts of one converter on one or more documents (summable)."""

    documents: int = 0
    order_sum: float = 0.0
    headings_truth: int = 0
    headings_output: int = 0
    headings_matched: int = 0
    levels_right: int = 0
    code_truth: int = 0
    code_found: int = 0
    lists_truth: int = 0
    lists_found: int = 0
    depth_right: int = 0
    paragraphs_truth: int = 0
    paragraphs_found: int = 0
    ruled_cells_truth: int = 0
    ruled_cells_found: int = 0
    unruled_cells_truth: int = 0
    unruled_cells_found: int = 0
    furniture_pages: int = 0
    furniture_leaked: int = 0
    pages: int = 0
    seconds: float = 0.0
    failures: int = 0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def figures(self) -> dict[str, float | None]:
        def share(part: float, whole: float) -> float | None:
            return part / whole if whole else None

        precision = share(self.headings_matched, self.headings_output)
        recall = share(self.headings_matched, self.headings_truth)
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else (0.0 if self.headings_truth else None)
        )
        return {
            "order": share(self.order_sum, self.documents),
            "heading_precision": precision,
            "heading_recall": recall,
            "heading_f1": f1,
            "heading_level_accuracy": share(self.levels_right, self.headings_matched),
            "code_lines": share(self.code_found, self.code_truth),
            "list_items": share(self.lists_found, self.lists_truth),
            "list_depth_accuracy": share(self.depth_right, self.lists_found),
            "paragraphs": share(self.paragraphs_found, self.paragraphs_truth),
            "cells_ruled": share(self.ruled_cells_found, self.ruled_cells_truth),
            "cells_unruled": share(self.unruled_cells_found, self.unruled_cells_truth),
            "furniture_leak": share(self.furniture_leaked, self.furniture_pages),
            "seconds": self.seconds,
            "pages_per_second": share(self.pages, self.seconds),
        }


def score(
    truth: Structure,
    output: Structure,
    *,
    ruled: bool,
    furniture: tuple[list[tuple[str, str]], list[str]] | None = None,
) -> Tally:
    """The counts of one output against its truth.

    ``furniture``: for layout "header-footer", the header and footer text of each printed
    page, and the output's Markdown of each page.
    """
    tally = Tally(documents=1)
    tally.order_sum = Levenshtein.normalized_similarity(
        norm_text(truth.body_text), norm_text(output.body_text)
    )

    truth_heads = [norm_key(t) for t, _ in truth.headings]
    out_heads = [norm_key(t) for t, _ in output.headings]
    pairs = match(truth_heads, out_heads)
    truth_rank = ranks([level for _, level in truth.headings])
    out_rank = ranks([level for _, level in output.headings])
    tally.headings_truth = sum(1 for k in truth_heads if k)
    tally.headings_output = sum(1 for k in out_heads if k)
    tally.headings_matched = len(pairs)
    tally.levels_right = sum(
        1 for i, j in pairs if truth_rank[truth.headings[i][1]] == out_rank[output.headings[j][1]]
    )

    truth_code = [norm_text(line) for line in truth.code_lines]
    out_code = [norm_text(line) for line in output.code_lines]
    tally.code_truth = sum(1 for line in truth_code if line)
    tally.code_found = len(match(truth_code, out_code, fuzzy=False))

    truth_items = [norm_key(item.text) for item in truth.list_items]
    out_items = [norm_key(item.text) for item in output.list_items]
    pairs = match(truth_items, out_items)
    tally.lists_truth = sum(1 for k in truth_items if k)
    tally.lists_found = len(pairs)
    tally.depth_right = sum(
        1 for i, j in pairs if truth.list_items[i].depth == output.list_items[j].depth
    )

    truth_paras = [norm_key(p) for p in truth.paragraphs]
    out_paras = [norm_key(p) for p in output.paragraphs]
    tally.paragraphs_truth = sum(1 for k in truth_paras if k)
    tally.paragraphs_found = len(match(truth_paras, out_paras))

    truth_cells = [norm_key(c) for table in truth.tables for c in table]
    out_cells = [norm_key(c) for table in output.tables for c in table]
    cells_truth = sum(1 for k in truth_cells if k)
    cells_found = len(match(truth_cells, out_cells))
    if ruled:
        tally.ruled_cells_truth, tally.ruled_cells_found = cells_truth, cells_found
    else:
        tally.unruled_cells_truth, tally.unruled_cells_found = cells_truth, cells_found

    if furniture is not None:
        printed, pages = furniture
        tally.furniture_pages = len(printed)
        for number, texts in enumerate(printed):
            page = f" {norm_key(pages[number])} " if number < len(pages) else " "
            if any(f" {norm_key(text)} " in page for text in texts):
                tally.furniture_leaked += 1
    return tally
