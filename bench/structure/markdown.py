"""One Markdown parser for the ground truth and for the converters' outputs.

markdown-it-py's CommonMark preset with the GFM table rule. :func:`parse` also drops what
would not print from the token stream (raw HTML blocks, inline HTML, images, and the
paragraphs or headings left empty by that), so :func:`to_html` prints exactly the tokens that
:func:`structure` reads the truth from.

:func:`structure` walks the tokens into a :class:`Structure`: headings (text, level),
paragraphs outside lists, list items (their own paragraphs' text, and their nesting depth:
1 for a top-level item), code-block lines (fenced and indented), table cells (header and
body cells, per table) and the body text in reading order (every heading, paragraph, list
item, code line and cell, in document order). Inline text is the parsed inline content:
text and code spans, line breaks as spaces, no emphasis, link or escape syntax. With
``numbered=True`` headings get the numbers that layout "dense" prints with CSS counters
(:func:`heading_numbers`), so its truth reads "2.3 Timeouts" as the page does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

_DROPPED_INLINE = frozenset({"image", "html_inline"})


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


_MD = parser()


@dataclass
class ListItem:
    text: str
    depth: int


@dataclass
class Structure:
    headings: list[tuple[str, int]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    list_items: list[ListItem] = field(default_factory=list)
    code_lines: list[str] = field(default_factory=list)
    tables: list[list[str]] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        return " ".join(" ".join(self.body).split())


def inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak", "html_inline"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _filter(tokens: list[Token]) -> list[Token]:
    """The tokens less raw HTML, images, and headings or paragraphs left empty."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "html_block":
            i += 1
            continue
        if token.type == "inline" and token.children is not None:
            token.children = [c for c in token.children if c.type not in _DROPPED_INLINE]
        if (
            token.type in ("paragraph_open", "heading_open")
            and i + 2 < len(tokens)
            and tokens[i + 1].type == "inline"
        ):
            inline = tokens[i + 1]
            if inline.children is not None:
                inline.children = [c for c in inline.children if c.type not in _DROPPED_INLINE]
            if not inline_text(inline):
                i += 3  # open, inline, close
                continue
        out.append(token)
        i += 1
    return out


def parse(text: str) -> list[Token]:
    return _filter(_MD.parse(text))


def to_html(tokens: list[Token]) -> str:
    return str(_MD.renderer.render(tokens, _MD.options, {}))


def count_headings(text: str) -> int:
    return sum(1 for t in parse(text) if t.type == "heading_open")


class HeadingCounter:
    """The numbers layout "dense" prints: h2 "N", h3 "N.M", h4 "N.M.K"; h1, h5, h6 none.

    Mirrors the CSS counters of :mod:`bench.structure.render`: h1 resets h2's counter, each
    level resets the next one's.
    """

    def __init__(self) -> None:
        self.counts = {2: 0, 3: 0, 4: 0}

    def number(self, level: int) -> str:
        if level == 1:
            self.counts[2] = 0
            return ""
        if level not in self.counts:
            return ""
        self.counts[level] += 1
        for deeper in range(level + 1, 5):
            self.counts[deeper] = 0
        return ".".join(str(self.counts[k]) for k in range(2, level + 1))


def structure(tokens: list[Token], *, numbered: bool = False) -> Structure:
    """The document's structure from its (parsed, filtered) tokens."""
    result = Structure()
    counter = HeadingCounter()
    list_depth = 0
    items: list[ListItem] = []  # open list items, innermost last
    table: list[str] | None = None
    for i, token in enumerate(tokens):
        kind = token.type
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if kind in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif kind == "list_item_open":
            item = ListItem("", list_depth)
            items.append(item)
            result.list_items.append(item)
        elif kind == "list_item_close":
            items.pop()
        elif kind == "heading_open" and following is not None:
            text = inline_text(following)
            level = int(token.tag[1])
            if numbered:
                number = counter.number(level)
                text = f"{number} {text}" if number else text
            result.headings.append((text, level))
            result.body.append(text)
        elif kind == "paragraph_open" and following is not None:
            text = inline_text(following)
            if items:
                items[-1].text = f"{items[-1].text} {text}".strip()
            else:
                result.paragraphs.append(text)
            result.body.append(text)
        elif kind in ("fence", "code_block"):
            lines = [line.rstrip() for line in token.content.split("\n") if line.strip()]
            result.code_lines.extend(lines)
            result.body.extend(lines)
        elif kind == "table_open":
            table = []
            result.tables.append(table)
        elif kind == "table_close":
            table = None
        elif kind in ("th_open", "td_open") and following is not None and table is not None:
            text = inline_text(following)
            table.append(text)
            result.body.append(text)
    result.list_items = [item for item in result.list_items if item.text]
    return result


def read(text: str, *, numbered: bool = False) -> Structure:
    return structure(parse(text), numbered=numbered)
