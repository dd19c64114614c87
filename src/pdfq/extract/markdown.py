"""Markdown from a page's lines and tables: headings, lists, paragraphs and tables.

Headings come from font size relative to the page's body text (and from short, bold,
stand-alone lines); lists from bullet and number markers; paragraphs from line spacing;
code blocks from runs of lines in a fixed-pitch font.
Lines inside a detected table are replaced by the table, rendered as a Markdown table.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pdfq.domain import Table
from pdfq.extract.pdf import Line, PageLayout

# Bullets: round, square and triangular bullets (typographic: never code), then middle dots,
# en and em dashes, hyphen, asterisk.
_TYPOGRAPHIC = "\u2022\u25e6\u25aa\u25ab\u2023\u2043\u25cf\u25cb\u25a0\u25a1"
_BULLET = re.compile(f"^[{_TYPOGRAPHIC}\u00b7\u2219\u2013\u2014*-]\\s+")
_TYPOGRAPHIC_BULLET = re.compile(f"^[{_TYPOGRAPHIC}]\\s")
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+")
TYPEWRITTEN = 0.8  # share of a page's characters in a fixed-pitch font past which it is typed
_LIST_ITEM = re.compile(r"^(- |\d+\. )")
_MD_LINE_START = re.compile(r"^([#>+=]|[-*](?=\s)|\d+[.)](?=\s))")


def body_size(lines: Iterable[Line]) -> float:
    """The font size carrying most characters of prose (the page's body text): code set in a
    fixed-pitch font may outnumber it on technical pages, so it only counts when there is
    nothing else."""
    prose: dict[float, int] = {}
    code: dict[float, int] = {}
    for line in lines:
        if line.size > 0:  # unknown sizes say nothing about the body
            weights = code if line.mono else prose
            weights[line.size] = weights.get(line.size, 0) + len(line.text)
    weights = prose or code
    return max(weights, key=lambda k: weights[k]) if weights else 10.0


def heading_level(line: Line, body: float) -> int | None:
    text = line.text
    if len(text) > 200 or body <= 0 or line.size <= 0 or not any(c.isalpha() for c in text):
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


@dataclass(slots=True)
class PageBlock:
    """One block of a page as Markdown sees it: a heading, paragraph, list item or table,
    with the lines it was made of (none for a table)."""

    kind: str  # "heading", "paragraph", "list_item", "code", "table", "image", "furniture"
    markdown: str
    lines: list[Line] = field(default_factory=list)
    level: int | None = None
    table: int | None = None
    """For a table: its index in the page's tables."""


def page_blocks(
    layout: PageLayout,
    tables: list[Table],
    furniture: Callable[[Line], bool] | None = None,
) -> list[PageBlock]:
    """The page's blocks in reading order. Lines ``furniture`` picks (running headers and
    footers, page numbers) become ``furniture`` blocks, outside the Markdown."""
    placed: set[int] = set()
    boxed = [i for i, t in enumerate(tables) if t.bbox is not None]
    blocks: list[PageBlock] = []
    body = body_size(
        line
        for line in layout.lines
        if not any(_inside(line, tables[i].bbox) for i in boxed)  # type: ignore[arg-type]
    )
    # A page set all (or nearly all) in a fixed-pitch font is typewritten, not a listing.
    fixed = sum(len(line.text) for line in layout.lines if line.mono)
    listings = fixed < TYPEWRITTEN * sum(len(line.text) for line in layout.lines)
    kind = ""  # kind of the open block: "p", "li", "h", "code"
    prev: Line | None = None

    for line in layout.lines:
        table_index = next(
            (i for i in boxed if _inside(line, tables[i].bbox)),  # type: ignore[arg-type]
            None,
        )
        if table_index is not None:
            if table_index not in placed:
                placed.add(table_index)
                blocks.append(
                    PageBlock("table", table_markdown(tables[table_index]), table=table_index)
                )
            kind, prev = "table", None
            continue

        if furniture is not None and furniture(line):
            blocks.append(PageBlock("furniture", "", [line]))
            continue  # the text flow goes on around it
        text = line.text.strip()
        level = heading_level(line, body)
        gap = line.top - prev.bottom if prev is not None else 0.0
        near = prev is not None and gap < 0.8 * max(line.size, 1.0)

        # A typographic bullet opens a list item even when the item's text is inline code
        # (the line's probe character then reads as fixed pitch); "-" and "*" may be code.
        if line.mono and listings and not _TYPOGRAPHIC_BULLET.match(text):
            # A blank line or two inside a listing keeps it one block.
            if kind == "code" and prev is not None and gap < 2.8 * max(line.size, 1.0):
                blocks[-1].lines.append(line)
            else:
                blocks.append(PageBlock("code", "", [line]))
            kind = "code"
        elif level is not None:
            wrapped = prev is not None and gap < 0.45 * line.size and not _NUMBERED.match(text)
            if kind == "h" and wrapped and prev is not None and abs(prev.size - line.size) < 0.5:
                _extend(blocks[-1], text, line)  # a heading wrapped over lines
            else:
                blocks.append(PageBlock("heading", "#" * level + " " + text, [line], level))
            kind = "h"
        elif bullet := _BULLET.match(text):
            blocks.append(PageBlock("list_item", "- " + _escape(text[bullet.end() :]), [line]))
            kind = "li"
        elif number := _NUMBERED.match(text):
            item = f"{number.group(1)}. " + _escape(text[number.end() :])
            blocks.append(PageBlock("list_item", item, [line]))
            kind = "li"
        elif (
            kind in ("p", "li")
            and near
            and prev is not None
            and (kind == "p" or line.x0 > prev.x0 - 1)
        ):
            _extend(blocks[-1], text, line)
        else:
            blocks.append(PageBlock("paragraph", _escape(text), [line]))
            kind = "p"
        prev = line

    for i, table in enumerate(tables):
        if i not in placed:
            blocks.append(PageBlock("table", table_markdown(table), table=i))
    return [_finish_code(b) if b.kind == "code" else b for b in blocks]


def _finish_code(block: PageBlock) -> PageBlock:
    """Fixed-pitch lines as a fenced code block, their indentation kept (from their left edge
    in character widths); a lone fixed-pitch line is inline code in a paragraph."""
    lines = block.lines
    if len(lines) == 1:
        block.kind, block.markdown = "paragraph", f"`{lines[0].text.replace('`', '')}`"
        return block
    widths = [(ln.x1 - ln.x0) / len(ln.text) for ln in lines if ln.text and ln.x1 > ln.x0]
    char = sorted(widths)[len(widths) // 2] if widths else 0.0
    left = min(ln.x0 for ln in lines)
    steps = sorted(b.top - a.top for a, b in itertools.pairwise(lines))
    pitch = steps[len(steps) // 2]
    body: list[str] = []
    for i, ln in enumerate(lines):
        if i and pitch > 0:  # blank lines where the listing skips a line or more
            body += [""] * max(0, round((ln.top - lines[i - 1].top) / pitch) - 1)
        body.append(" " * (round((ln.x0 - left) / char) if char > 0 else 0) + ln.text)
    fence = "````" if any("```" in text for text in body) else "```"
    block.markdown = "\n".join([fence, *body, fence])
    return block


def plain_blocks(layout: PageLayout) -> list[PageBlock]:
    """Each line a paragraph: the fallback when the page's structure cannot be worked out."""
    return [PageBlock("paragraph", _escape(line.text), [line]) for line in layout.lines]


def _extend(block: PageBlock, text: str, line: Line) -> None:
    block.markdown = _join(block.markdown, text)
    block.lines.append(line)


def page_markdown(layout: PageLayout, tables: list[Table]) -> str:
    """The page as Markdown."""
    return blocks_markdown(page_blocks(layout, tables))


def blocks_markdown(blocks: list[PageBlock]) -> str:
    return "\n\n".join(_merge_lists([b.markdown for b in blocks if b.kind != "furniture"]))


def _merge_lists(blocks: list[str]) -> list[str]:
    """Consecutive list items belong to one list (no blank line between them)."""
    merged: list[str] = []
    for block in blocks:
        if merged and _LIST_ITEM.match(block) and _LIST_ITEM.match(merged[-1].rsplit("\n", 1)[-1]):
            merged[-1] += "\n" + block
        else:
            merged.append(block)
    return merged
