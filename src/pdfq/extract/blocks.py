"""A page's layout blocks: the Markdown builder's blocks, placed images, and their boxes.

The same blocks give the page's Markdown (images referenced as ``images/<name>``) and its
``blocks`` in the JSON result, from which ``results.boxes_markdown`` writes the
``markdown-boxes`` output.
"""

from __future__ import annotations

from collections.abc import Sequence

from pdfq.domain import Block, BlockLine, Box, PageImage, Table
from pdfq.extract.markdown import PageBlock
from pdfq.extract.page import union
from pdfq.extract.pdf import Line


def image_markdown(image: PageImage) -> str:
    return f"![image](images/{image.name})"


def _top(part: PageBlock, tables: Sequence[Table]) -> float | None:
    if part.lines:
        return part.lines[0].top
    if part.table is not None and tables[part.table].bbox is not None:
        return tables[part.table].bbox[1]  # type: ignore[index]
    return None


def with_images(
    parts: list[PageBlock], images: Sequence[PageImage], tables: Sequence[Table]
) -> list[PageBlock]:
    """``parts`` with an image block before the first block that starts below each image."""
    placed = list(parts)
    for index, image in sorted(enumerate(images), key=lambda item: item[1].bbox[1]):
        block = PageBlock("image", image_markdown(image), table=index)
        at = next(
            (
                i
                for i, part in enumerate(placed)
                if part.kind != "image"
                and (top := _top(part, tables)) is not None
                and top > image.bbox[1]
            ),
            len(placed),
        )
        placed.insert(at, block)
    return placed


def _rounded_union(boxes: Sequence[Box]) -> Box:
    x0, top, x1, bottom = union(boxes)
    return round(x0, 2), round(top, 2), round(x1, 2), round(bottom, 2)


def _line_box(line: Line) -> Box:
    return (round(line.x0, 2), round(line.top, 2), round(line.x1, 2), round(line.bottom, 2))


def to_blocks(
    parts: Sequence[PageBlock],
    tables: Sequence[Table],
    images: Sequence[PageImage],
    *,
    positioned: bool = True,
    with_lines: bool = False,
) -> list[Block]:
    """The JSON blocks of a page. ``positioned=False`` (an OCR provider that reports no line
    positions): blocks without boxes. ``with_lines``: each text block lists its lines with
    their boxes and confidences (OCR pages: the engine's reading, worth seeing line by line;
    on text pages the block's box and text say it all, at a fraction of the size)."""
    blocks = []
    for part in parts:
        if part.kind == "image":
            assert part.table is not None
            image = images[part.table]
            blocks.append(
                Block(kind="image", bbox=image.bbox, image=image.name, markdown=part.markdown)
            )
        elif part.kind == "table":
            assert part.table is not None
            table = tables[part.table]
            text = "\n".join(" | ".join(row) for row in table.rows)
            blocks.append(
                Block(
                    kind="table",
                    bbox=table.bbox,
                    text=text,
                    markdown=part.markdown,
                    table=part.table,
                )
            )
        else:
            lines = [
                BlockLine(
                    text=line.text,
                    bbox=_line_box(line),
                    confidence=line.confidence,
                )
                for line in part.lines
            ]
            scores = [line.confidence for line in part.lines if line.confidence is not None]
            blocks.append(
                Block(
                    kind=part.kind,
                    bbox=_rounded_union([b.bbox for b in lines]) if positioned and lines else None,
                    text="\n".join(line.text for line in part.lines),
                    markdown=part.markdown,
                    level=part.level,
                    lines=lines if positioned and with_lines else [],
                    confidence=round(sum(scores) / len(scores), 3) if scores else None,
                )
            )
    return blocks
