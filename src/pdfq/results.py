"""Where a job's files live in blob storage, and how result files are written.

Inputs live at ``<job>/input``. Results of attempt *n* live under ``<job>/a<n>/``; the job row
records which attempt's results are published, so a late or duplicated attempt can never
overwrite or mix with the published ones (DESIGN invariant 2: a result is written once).
Pages are written as they finish, a batch of pages per file (``pages/<first page>.jsonl``);
the ``pages`` table indexes each page's byte range, so one page is one range read.
"""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Literal

from pdfq.blobs import Blobs
from pdfq.domain import DocumentResult, PageResult

ResultFormat = Literal["json", "markdown", "text"]

RESULT_FILES: dict[ResultFormat, tuple[str, str]] = {
    "json": ("result.json", "application/json"),
    "markdown": ("result.md", "text/markdown; charset=utf-8"),
    "text": ("result.txt", "text/plain; charset=utf-8"),
}
TABLES_CSV = "tables.csv"
TABLES_ZIP = "tables.zip"


def input_key(job_id: str) -> str:
    return f"{job_id}/input"


def attempt_prefix(job_id: str, attempt: int) -> str:
    return f"{job_id}/a{attempt}"


def result_key(job_id: str, attempt: int, name: str) -> str:
    return f"{attempt_prefix(job_id, attempt)}/{name}"


def page_batch_key(job_id: str, attempt: int, batch: str) -> str:
    """Pages are written in batches (one file per progress flush), one JSON line per page."""
    return f"{attempt_prefix(job_id, attempt)}/pages/{batch}"


def page_batch_name(first_page: int) -> str:
    return f"{first_page:06d}.jsonl"


EMPTY_TABLES_CSV = b"page,table,row\r\n"


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


def write_results(blobs: Blobs, *, job_id: str, attempt: int, result: DocumentResult) -> None:
    """Write every result file of an attempt (pages are written as they finish)."""
    blobs.put(result_key(job_id, attempt, "result.json"), result.model_dump_json().encode())
    blobs.put(result_key(job_id, attempt, "result.md"), result.markdown.encode())
    blobs.put(result_key(job_id, attempt, "result.txt"), result.text.encode())
    if any(page.tables for page in result.pages):  # readers make the empty files themselves
        blobs.put(result_key(job_id, attempt, TABLES_CSV), tables_csv(result))
        blobs.put(result_key(job_id, attempt, TABLES_ZIP), tables_zip(result))
