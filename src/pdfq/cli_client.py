"""The client commands of ``pdfq``: submit, status, result, jobs, watch.

They talk to a running server through :class:`pdfq.Client` (``--url`` / ``PDFQ_URL``,
``--api-key`` / ``PDFQ_API_KEY``). ``submit --wait`` follows every job's live stream with a
progress bar per file and ends with a summary table. Exit codes: 0 when every job succeeded,
1 when any failed, was canceled or was refused, 3 when the server cannot be reached.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from pdfq.client import DEFAULT_URL, Client, ResultFormat
from pdfq.domain import DocumentResult, Job, JobStatus
from pdfq.errors import PdfqError

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
FORMATS: dict[str, tuple[ResultFormat, str]] = {
    "md": ("markdown", ".md"),
    "md-boxes": ("markdown-boxes", ".boxes.md"),
    "json": ("json", ".json"),
    "txt": ("text", ".txt"),
}
SUFFIXES = frozenset(
    [
        ".pdf",
        ".png",
        ".jpg",
        ".jpeg",
        ".tif",
        ".tiff",
        ".docx",
        ".pptx",
        ".xlsx",
        ".odt",
        ".odp",
        ".ods",
        ".rtf",
    ]
)
UPLOADS_AT_ONCE = 4

console = Console()
errors = Console(stderr=True)

UrlOption = Annotated[
    str,
    typer.Option(
        "--url", envvar="PDFQ_URL", help=f"Server URL [env: PDFQ_URL, default {DEFAULT_URL}]."
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="PDFQ_API_KEY", help="API key [env: PDFQ_API_KEY]."),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="Result format: md, md-boxes, json or txt.")
]


def _client(url: str, api_key: str | None) -> Client:
    return Client(url, api_key=api_key)


def _format(name: str) -> tuple[ResultFormat, str]:
    if name not in FORMATS:
        raise typer.BadParameter(f"{name!r}: use md, md-boxes, json or txt", param_hint="--format")
    return FORMATS[name]


def _unreachable(url: str, exc: Exception) -> typer.Exit:
    errors.print(f"[red]cannot reach the pdfq server at {url}[/]: {exc}")
    return typer.Exit(EXIT_UNREACHABLE)


def input_files(paths: list[Path]) -> list[Path]:
    """The files named, with folders expanded to the documents inside them (PDFs, images and
    office files, by their names; the server decides by their content)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path}: no such file or folder", param_hint="FILES")
    return found


@dataclass
class _Row:
    """One file of ``submit``: its job (or why it was refused) and where its result went."""

    path: Path
    job: Job | None = None
    refused: str | None = None
    saved: Path | None = None
    seconds: float = 0.0


def _save(client: Client, job: Job, out: Path, fmt: str, stem: str) -> Path:
    kind, suffix = _format(fmt)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{stem}{suffix}"
    value = client.result(job.id, kind)
    text = value.model_dump_json(indent=2) if isinstance(value, DocumentResult) else value
    target.write_text(text, encoding="utf-8")
    return target


def _follow(
    client: Client, row: _Row, progress: Progress, task: TaskID, *, log: bool = False
) -> None:
    """Move the file's bar with the job's stream until it ends; with ``log``, also print the
    job's events as they come (pages are shown by the bar)."""
    assert row.job is not None
    started = time.monotonic()
    for message in client.events(row.job.id):
        data = message.data
        if log and message.event not in ("page", "progress", "job"):
            at = str(data.get("at", ""))[11:19]
            progress.console.print(f"[dim]{at}[/] {message.event} {data.get('data') or ''}")
        if message.event == "progress":
            progress.update(task, completed=data["pages_done"], total=data["pages_total"])
        elif message.event == "job":
            row.job = Job.model_validate(data)
            done = row.job.progress
            progress.update(
                task,
                completed=done.pages_done,
                total=done.pages_total or max(done.pages_done, 1),
                status=_status_text(row.job),
            )
        elif message.event in ("started", "retried"):
            progress.update(task, status=message.event)
    row.seconds = time.monotonic() - started


def _status_text(job: Job) -> str:
    colour = {"succeeded": "green", "failed": "red", "canceled": "yellow"}.get(job.status, "")
    return f"[{colour}]{job.status}[/]" if colour else str(job.status)


def submit(
    files: Annotated[
        list[Path], typer.Argument(help="PDFs, images or office files, or folders of them.")
    ],
    wait: Annotated[
        bool, typer.Option(help="Wait for every job, with a progress bar each.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="With --wait: write each result into this folder.")
    ] = None,
    fmt: FormatOption = "md",
    ocr: Annotated[str | None, typer.Option(help="auto, always or never.")] = None,
    languages: Annotated[str | None, typer.Option(help="OCR languages, e.g. eng+deu.")] = None,
    pages: Annotated[str | None, typer.Option(help="Pages to read, e.g. 1-5,8.")] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs.")] = None,
    priority: Annotated[int | None, typer.Option(help="-10 to 10, higher first.")] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Called when each job ends.")] = None,
    dedupe: Annotated[
        bool, typer.Option(help="Reuse the result of an identical earlier job.")
    ] = True,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Upload PDFs; with --wait, follow them to the end and optionally save the results."""
    paths = input_files(files)
    if out is not None:
        wait = True
        _format(fmt)
    options: dict[str, Any] = {
        "ocr": ocr,
        "languages": languages,
        "pages": pages,
        "password": password,
        "priority": priority,
        "webhook_url": webhook_url,
        "dedupe": dedupe,
    }
    rows = [_Row(path) for path in paths]
    with _client(url, api_key) as client:

        def upload(row: _Row) -> None:
            try:
                row.job = client.submit(row.path, **options)
            except httpx.TransportError:
                raise
            except PdfqError as exc:
                row.refused = f"{exc.code.value}: {exc.message}"

        try:
            with ThreadPoolExecutor(UPLOADS_AT_ONCE) as pool:
                list(pool.map(upload, rows))
        except httpx.TransportError as exc:
            raise _unreachable(url, exc) from exc
        if wait:
            _wait_all(client, rows)
            if out is not None:
                for row in rows:
                    if row.job is not None and row.job.status == JobStatus.SUCCEEDED:
                        row.saved = _save(client, row.job, out, fmt, row.path.stem)
    console.print(_summary(rows, waited=wait))
    if any(r.refused or (wait and r.job and r.job.status != JobStatus.SUCCEEDED) for r in rows):
        raise typer.Exit(EXIT_FAILED)


def _wait_all(client: Client, rows: list[_Row]) -> None:
    columns = (
        TextColumn("{task.description}", style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        threads = []
        for row in rows:
            if row.job is None:
                continue
            task = progress.add_task(row.path.name, total=None, status=str(row.job.status))
            thread = threading.Thread(target=_follow, args=(client, row, progress, task))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()


def _summary(rows: list[_Row], *, waited: bool) -> Table:
    table = Table(title="pdfq jobs")
    for name in ("file", "job", "status", "pages", "time", "result" if waited else "note"):
        table.add_column(name, no_wrap=name == "job", min_width=36 if name == "job" else None)
    for row in rows:
        if row.job is None:
            table.add_row(str(row.path), "-", "[red]refused[/]", "", "", row.refused or "")
            continue
        job = row.job
        pages = f"{job.progress.pages_done}/{job.progress.pages_total or '?'}"
        note = str(row.saved or "")
        if job.error is not None:
            note = f"{job.error.code}: {job.error.message}"
        elif job.dedupe_of:
            note = note or f"reused {job.dedupe_of}"
        seconds = f"{row.seconds:.1f} s" if waited else ""
        table.add_row(str(row.path), job.id, _status_text(job), pages, seconds, note)
    return table


def status(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Show one job."""
    job = _call(url, lambda c: c.get(job_id), api_key)
    if json_output:
        console.print_json(job.model_dump_json())
        return
    table = Table.grid(padding=(0, 2))
    for name, value in (
        ("job", job.id),
        ("file", job.filename),
        ("status", _status_text(job)),
        ("pages", f"{job.progress.pages_done}/{job.progress.pages_total or '?'}"),
        ("attempts", str(job.attempts)),
        ("created", job.created_at.isoformat()),
        ("finished", job.finished_at.isoformat() if job.finished_at else "-"),
        ("error", f"{job.error.code}: {job.error.message}" if job.error else "-"),
    ):
        table.add_row(f"[bold]{name}[/]", value)
    console.print(table)


def result(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    fmt: FormatOption = "md",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Print (or save) a job's result, waiting for the job to end."""
    kind, _ = _format(fmt)
    value = _call(url, lambda c: c.result(job_id, kind), api_key)
    text = value.model_dump_json(indent=2) if isinstance(value, DocumentResult) else value
    if out is not None:
        out.write_text(text, encoding="utf-8")
        errors.print(f"wrote {out}")
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def jobs(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only jobs in this status.")
    ] = None,
    batch: Annotated[str | None, typer.Option(help="Only jobs of this batch.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """List jobs, newest first."""

    def newest(client: Client) -> list[Job]:
        found: list[Job] = []
        for job in client.jobs(status=status_filter, batch=batch, page_size=min(limit, 500)):
            found.append(job)
            if len(found) >= limit:
                break
        return found

    table = Table(title="pdfq jobs")
    for name in ("job", "file", "status", "pages", "created", "error"):
        table.add_column(name, no_wrap=name == "job", min_width=36 if name == "job" else None)
    for job in _call(url, newest, api_key):
        table.add_row(
            job.id,
            job.filename,
            _status_text(job),
            f"{job.progress.pages_done}/{job.progress.pages_total or '?'}",
            job.created_at.strftime("%m-%d %H:%M:%S"),
            job.error.code if job.error else "",
        )
    console.print(table)


def watch(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    url: UrlOption = DEFAULT_URL,
    api_key: KeyOption = None,
) -> None:
    """Follow a job live (its events and a progress bar) until it ends."""
    row = _Row(Path(job_id))
    with _client(url, api_key) as client:
        try:
            row.job = client.get(job_id)
            row.path = Path(row.job.filename)
            _watch(client, row)
        except httpx.TransportError as exc:
            raise _unreachable(url, exc) from exc
        except PdfqError as exc:
            errors.print(f"[red]{exc.code.value}[/]: {exc.message}")
            raise typer.Exit(EXIT_FAILED) from exc
    assert row.job is not None
    console.print(_summary([row], waited=True))
    if row.job.status != JobStatus.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


def _watch(client: Client, row: _Row) -> None:
    assert row.job is not None
    with Progress(
        TextColumn(row.job.filename, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    ) as progress:
        task = progress.add_task(row.job.filename, total=None, status=str(row.job.status))
        _follow(client, row, progress, task, log=True)


def _call(url: str, action: Any, api_key: str | None) -> Any:
    """Run ``action(client)``, turning failures into a message and an exit code."""
    with _client(url, api_key) as client:
        try:
            return action(client)
        except httpx.TransportError as exc:
            raise _unreachable(url, exc) from exc
        except PdfqError as exc:
            errors.print(f"[red]{exc.code.value}[/]: {exc.message}")
            raise typer.Exit(EXIT_FAILED) from exc


def register(app: typer.Typer) -> None:
    for command in (submit, status, result, jobs, watch):
        app.command()(command)
