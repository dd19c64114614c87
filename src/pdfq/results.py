"""Where a job's files live in blob storage, and how its result is written and read back.

Inputs live at ``<job>/input``. Everything an attempt *n* produces lives under ``<job>/a<n>/``;
the job row records which attempt's results are published, so a late or duplicated attempt
can never overwrite or mix with them (DESIGN invariant 2: a result is written once).

An attempt writes few objects, because creating files (or S3 objects) is what costs on small
documents:

* ``pages/<first page>.jsonl`` — pages finished while a long document runs, one JSON line per
  page, one object per progress flush;
* ``result`` — one object holding, back to back, the result JSON, Markdown (plain and with
  boxes) and plain text, and the tables as CSV and ZIP.

The pages not flushed yet (all of them for a short document) are stored once, *inside* the
result JSON: its ``pages`` array is written as ``page\n,page\n,…,page\n``, so each page's JSON
(with its newline) is its own byte range of the object, and the ``pages`` part is that run.
Pages flushed earlier are copied into the array. Storing a short document's pages a second
time, beside the JSON, cost its worker a third of its own overhead on text pages.

The job row keeps the byte range of each part (:class:`ResultIndex`) and the ``pages`` table
the byte range of each page, so every answer is one range read.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pdfq.blobs import Blobs
from pdfq.domain import DocumentResult, PageResult

ResultFormat = Literal["json", "markdown", "markdown-boxes", "text"]
ResultPart = Literal[
    "pages", "json", "markdown", "markdown-boxes", "text", "tables.csv", "tables.zip", "tables.xlsx"
]
ResultIndex = dict[str, tuple[int, int]]
"""Part name → (offset, length) within the attempt's ``result`` object."""

RESULT = "result"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMAGE_NAME = re.compile(r"^[0-9a-f]{16}\.(png|jpg)$")
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg"}
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "markdown": "text/markdown; charset=utf-8",
    "markdown-boxes": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "tables.csv": "text/csv; charset=utf-8",
    "tables.zip": "application/zip",
    "tables.xlsx": XLSX,
}
RESULT_SUFFIXES: dict[str, str] = {
    "json": ".json",
    "markdown": ".md",
    "markdown-boxes": ".boxes.md",
    "text": ".txt",
}
EMPTY_TABLES_CSV = b"page,table,row\r\n"


def input_key(job_id: str) -> str:
    return f"{job_id}/input"


def converted_key(job_id: str) -> str:
    """The PDF made from an image or office upload (kept for retries, chunks, the preview)."""
    return f"{job_id}/converted.pdf"


def attempt_prefix(job_id: str, attempt: int) -> str:
    return f"{job_id}/a{attempt}"


def result_key(job_id: str, attempt: int, name: str = RESULT) -> str:
    return f"{attempt_prefix(job_id, attempt)}/{name}"


def copy_result(blobs: Blobs, *, source: str, attempt: int, target: str, as_attempt: int) -> int:
    """Copy one attempt's result files to another job (a deduplicated job); returns how
    many objects were copied (0: the source's files are gone)."""
    return blobs.copy_prefix(attempt_prefix(source, attempt), attempt_prefix(target, as_attempt))


def image_key(job_id: str, attempt: int, name: str) -> str:
    """An extracted image of the attempt (``name`` is checked against :data:`IMAGE_NAME`)."""
    if not IMAGE_NAME.match(name):
        raise ValueError(f"not an image name: {name!r}")
    return result_key(job_id, attempt, f"images/{name}")


def page_batch_name(first_page: int) -> str:
    """The object (relative to the attempt) holding a flushed batch of pages."""
    return f"pages/{first_page:06d}.jsonl"


def empty_tables_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


def tables_csv(result: DocumentResult) -> bytes:
    """All tables in one CSV: ``page, table, row`` then the cells of that row."""
    out = io.StringIO()
    writer = csv.writer(out)
    width = max((len(r) for p in result.pages for t in p.tables for r in t.rows), default=0)
    writer.writerow(["page", "table", "row", *[f"c{i + 1}" for i in range(width)]])
    for page in result.pages:
        for t_index, table in enumerate(page.tables, start=1):
            for r_index, row in enumerate(table.rows, start=1):
                writer.writerow([page.number, t_index, r_index, *row])
    return out.getvalue().encode("utf-8")


def table_csv_name(page: PageResult, index: int) -> str:
    return f"page-{page.number:04d}-table-{index}.csv"


def tables_zip(result: DocumentResult) -> bytes:
    """One CSV file per table, named ``page-NNNN-table-K.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for page in result.pages:
            for index, table in enumerate(page.tables, start=1):
                out = io.StringIO()
                csv.writer(out).writerows(table.rows)
                archive.writestr(table_csv_name(page, index), out.getvalue())
    return buffer.getvalue()


def boxes_markdown(document: DocumentResult) -> str:
    """The document's Markdown with each block led by ``<!-- kind [level] [x0, top, x1,
    bottom] -->`` and each page by ``<!-- page N [0, 0, width, height] -->`` (the role of an
    OCR server's "Markdown with detections" file)."""
    out: list[str] = []
    for page in document.pages:
        out.append(f"<!-- page {page.number} [0, 0, {page.width:g}, {page.height:g}] -->")
        for block in page.blocks:
            label = block.kind + (f" {block.level}" if block.level else "")
            box = "" if block.bbox is None else " [" + ", ".join(f"{v:g}" for v in block.bbox) + "]"
            out.append(f"<!-- {label}{box} -->\n{block.markdown}")
    return "\n\n".join(out) + "\n"


def tables_xlsx(csv_lines: Iterable[str]) -> bytes:
    """A workbook with one sheet per table (``p<page>-t<n>``), from the ``tables.csv`` part
    (read row by row: a large document's tables never have to be held whole); one empty
    sheet when there is no table."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet: Any = None
    current: tuple[str, str] | None = None
    rows = csv.reader(csv_lines)
    next(rows, None)  # the header
    for page, table, _row, *cells in rows:
        if (page, table) != current:
            current = (page, table)
            sheet = workbook.create_sheet(f"p{page}-t{table}"[:31])
        sheet.append([_cell(sheet, value) for value in cells])
    if current is None:
        workbook.create_sheet("tables")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _cell(sheet: Any, value: str) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # text, always: a cell starting with "=" is not a formula to run
    return cell


def empty_tables_xlsx() -> bytes:
    return tables_xlsx([])


def _append_lines(
    out: bytearray, lines: Sequence[bytes], separator: bytes = b""
) -> list[tuple[int, int]]:
    """Append each line and a newline to ``out``, ``separator`` between them; return the
    byte range of each line in ``out``, its newline included."""
    spans = []
    for i, line in enumerate(lines):
        if i:
            out += separator
        spans.append((len(out), len(line) + 1))
        out += line
        out += b"\n"
    return spans


def json_lines(lines: Sequence[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """JSON lines (a page batch) and the byte range of each line, its newline included."""
    out = bytearray()
    spans = _append_lines(out, lines)
    return bytes(out), spans


_DOCUMENT_HEAD = {"id", "filename", "page_count", "metadata"}
_DOCUMENT_TAIL = {"text", "markdown"}


def document_json(
    result: DocumentResult, copied: Sequence[bytes], own: Sequence[bytes]
) -> tuple[bytes, list[tuple[int, int]], tuple[int, int]]:
    """The result JSON with the pages' JSON given, in page order: ``copied`` (pages stored
    elsewhere already) then ``own`` (pages stored here). Returns the JSON, the byte range of
    each own page (its JSON and a newline) and the range of the run of own pages."""
    if len(copied) + len(own) != len(result.pages):
        raise ValueError("every page of the result needs its JSON")
    head = result.model_dump_json(include=_DOCUMENT_HEAD).encode()
    tail = result.model_dump_json(include=_DOCUMENT_TAIL).encode()
    out = bytearray(head[:-1])
    out += b',"pages":['
    out += b",".join(copied)
    if copied and own:
        out += b","
    start = len(out)
    spans = _append_lines(out, own, b",")
    run = (start, len(out) - start)
    out += b"],"
    out += tail[1:]
    return bytes(out), spans, run


def write_result(
    blobs: Blobs,
    *,
    job_id: str,
    attempt: int,
    result: DocumentResult,
    copied: Sequence[bytes],
    own: Sequence[bytes],
) -> tuple[ResultIndex, list[tuple[int, int]]]:
    """Write the attempt's ``result`` object. ``copied`` and ``own``: the pages' JSON, as in
    :func:`document_json`. Returns the index of the parts and the byte range of each own
    page."""
    document, spans, run = document_json(result, copied, own)
    parts: list[tuple[str, bytes]] = [
        ("json", document),
        ("markdown", result.markdown.encode()),
        ("markdown-boxes", boxes_markdown(result).encode()),
        ("text", result.text.encode()),
    ]
    # tables.xlsx is made from tables.csv when first asked for (api/routes/results.py): most
    # jobs never are, and building a workbook costs a tenth of reading a table-heavy document.
    if any(page.tables for page in result.pages):  # readers make the empty files themselves
        parts += [("tables.csv", tables_csv(result)), ("tables.zip", tables_zip(result))]
    index: ResultIndex = {"pages": run}
    offset = 0
    for name, data in parts:
        index[name] = (offset, len(data))
        offset += len(data)
    blobs.put(result_key(job_id, attempt), b"".join(data for _, data in parts))
    return index, spans


def read_part(
    blobs: Blobs, *, job_id: str, attempt: int, index: dict[str, list[int]], part: str
) -> bytes | None:
    """One part of a published result (``None`` when the result has no such part)."""
    located = index.get(part)
    if located is None:
        return None
    offset, length = located
    return blobs.get_range(result_key(job_id, attempt), offset, length)
