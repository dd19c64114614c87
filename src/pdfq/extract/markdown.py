"""Markdown from a page's lines and tables: headings, lists, paragraphs and tables.

Headings come from font size relative to the page's body text (and from short, bold,
stand-alone lines); lists from bullet and number markers; paragraphs from line spacing.
Lines inside a detected table are replaced by the table, rendered as a Markdown table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pdfq.domain import Table
from pdfq.extract.pdf import Line, PageLayout

# Bullets: round, square and triangular bullets, middle dots, en and em dashes, hyphen, asterisk.
_BULLET = re.compile(
    "^[\u2022\u25e6\u25aa\u25ab\u2023\u2043\u25cf\u25cb\u25a0\u25a1\u00b7\u2219\u2013\u2014*-]\\s+"
)
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+")
_LIST_ITEM = re.compile(r"^(- |\d+\. )")
_MD_LINE_START = re.compile(r"^([#>+=]|[-*](?=\s)|\d+[.)](?=\s))")


def body_size(lines: Iterable[Line]) -> float:
    """The font size carrying most characters (the page's body text)."""
    weights: dict[float, int] = {}
    for line in lines:
        weights[line.size] = weights.get(line.size, 0) + len(line.text)
    return max(weights, key=lambda k: weights[k]) if weights else 10.0


def heading_level(line: Line, body: float) -> int | None:
    text = line.text
    if len(text) > 200 or not any(c.isalpha() for c in text):
        return None
    ratio = line.size / body
    if ratio >= 1.6:
        return 1
    if ratio >= 1.3:
        return 2
    if ratio >= 1.12:
        return 3
    return None


def _escape(text: str) -> str:
    return _MD_LINE_START.sub(lambda m: "\\" + m.group(0), text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table_markdown(table: Table) -> str:
    rows = table.rows
    width = max(len(r) for r in rows)
    lines = []
    for i, row in enumerate(rows):
        cells = [_cell(c) for c in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if i == 0:
            lines.append("|" + "|".join(["---"] * width) + "|")
    return "\n".join(lines)


def _join(previous: str, nxt: str) -> str:
    # A line ending in a hyphen before a lower-case word is a split word: keep the hyphen
    # (it may be a real one) but no space.
    if previous.endswith("-") and nxt[:1].islower():
        return previous + nxt
    return f"{previous} {nxt}"


def _inside(line: Line, box: tuple[float, float, float, float]) -> bool:
    x0, top, x1, bottom = box
    cx, cy = (line.x0 + line.x1) / 2, (line.top + line.bottom) / 2
    return x0 - 1 <= cx <= x1 + 1 and top - 1 <= cy <= bottom + 1


def page_markdown(layout: PageLayout, tables: list[Table]) -> str:
    """The page as Markdown."""
    placed: set[int] = set()
    boxed = [t for t in tables if t.bbox is not None]
    blocks: list[str] = []
    body = body_size(line for line in layout.lines if not any(_inside(line, t.bbox) for t in boxed))  # type: ignore[arg-type]
    kind = ""  # kind of the open block: "p", "li", "h"
    prev: Line | None = None

    for line in layout.lines:
        table_index = next(
            (i for i, t in enumerate(boxed) if _inside(line, t.bbox)),  # type: ignore[arg-type]
            None,
        )
        if table_index is not None:
            if table_index not in placed:
                placed.add(table_index)
                blocks.append(table_markdown(boxed[table_index]))
            kind, prev = "table", None
            continue

        text = line.text.strip()
        level = heading_level(line, body)
        gap = line.top - prev.bottom if prev is not None else 0.0
        near = prev is not None and gap < 0.8 * max(line.size, 1.0)

        if level is not None:
            wrapped = prev is not None and gap < 0.45 * line.size and not _NUMBERED.match(text)
            if kind == "h" and wrapped and prev is not None and abs(prev.size - line.size) < 0.5:
                blocks[-1] = _join(blocks[-1], text)  # a heading wrapped over lines
            else:
                blocks.append("#" * level + " " + text)
            kind = "h"
        elif bullet := _BULLET.match(text):
            blocks.append("- " + _escape(text[bullet.end() :]))
            kind = "li"
        elif number := _NUMBERED.match(text):
            blocks.append(f"{number.group(1)}. " + _escape(text[number.end() :]))
            kind = "li"
        elif (
            kind in ("p", "li")
            and near
            and prev is not None
            and (kind == "p" or line.x0 > prev.x0 - 1)
        ):
            blocks[-1] = _join(blocks[-1], text)
        else:
            blocks.append(_escape(text))
            kind = "p"
        prev = line

    for i, table in enumerate(boxed):
        if i not in placed:
            blocks.append(table_markdown(table))
    blocks.extend(table_markdown(t) for t in tables if t.bbox is None)
    return "\n\n".join(_merge_lists(blocks))


def _merge_lists(blocks: list[str]) -> list[str]:
    """Consecutive list items belong to one list (no blank line between them)."""
    merged: list[str] = []
    for block in blocks:
        if merged and _LIST_ITEM.match(block) and _LIST_ITEM.match(merged[-1].rsplit("\n", 1)[-1]):
            merged[-1] += "\n" + block
        else:
            merged.append(block)
    return merged
