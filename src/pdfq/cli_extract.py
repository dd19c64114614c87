"""``pdfq extract``: the worker's extraction in this process, without a server.

For a quick look at files (as ``docling FILE`` gives one): each file is sniffed, converted to
PDF when it is an image or an office document, extracted with the same code and settings
(``PDFQ_*``) a worker uses, OCR included, and written as Markdown, JSON or text. One file
without ``--out`` goes to standard output; otherwise each result is written into the folder
(``report.pdf`` → ``report.md``) with a progress bar over the files. Exit codes as
``pdfq submit``: 0 when every file was read, 1 when any failed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from pdfq.cli_client import EXIT_FAILED, input_files
from pdfq.config import Settings
from pdfq.domain import DocumentResult, OcrMode, Options
from pdfq.errors import PdfqError, UnsupportedType
from pdfq.formats import InputType, sniff

FORMATS = {"md": ".md", "json": ".json", "text": ".txt"}
err = Console(stderr=True)


def _kind(path: Path) -> InputType:
    with path.open("rb") as file:
        head = file.read(64 * 1024)
        file.seek(max(0, path.stat().st_size - 64 * 1024))
        tail = file.read()
    kind = sniff(head, tail)
    if kind is None:
        raise UnsupportedType("not a PDF, an image or an office document")
    return kind


def extract_file(path: Path, options: Options, password: str | None) -> DocumentResult:
    """Extract one file as a worker would (conversion, safety scan, OCR)."""
    from pdfq.extract.convert import ConvertLimits, to_pdf
    from pdfq.extract.document import Limits, extract_document
    from pdfq.extract.ocr import OcrChain

    settings = Settings()
    kind = _kind(path)
    with tempfile.TemporaryDirectory(prefix="pdfq-extract-") as scratch:
        source = path
        if kind is not InputType.PDF:
            source = Path(scratch) / f"{path.stem}.pdf"
            to_pdf(path, source, kind, ConvertLimits.from_settings(settings))
        result = extract_document(
            source,
            options=options,
            password=password,
            limits=Limits.from_settings(settings),
            ocr=OcrChain(settings),
        )
    return result.model_copy(update={"filename": path.name})


def render(result: DocumentResult, fmt: str) -> str:
    if fmt == "json":
        return result.model_dump_json(indent=2)
    if fmt == "text":
        return result.text
    return result.markdown


def extract(
    files: Annotated[
        list[Path], typer.Argument(help="PDFs, images or office files, or folders of them.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write each result into this folder.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Result format: md, json or text.")
    ] = "md",
    ocr: Annotated[OcrMode, typer.Option(help="auto, always or never.")] = OcrMode.AUTO,
    languages: Annotated[str, typer.Option(help="OCR languages, e.g. eng+deu.")] = "eng",
    pages: Annotated[str | None, typer.Option(help="Pages to read, e.g. 1-5,8.")] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs.")] = None,
) -> None:
    """Extract files in this process (no server): Markdown, JSON or text."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: use md, json or text", param_hint="--format")
    paths = input_files(files)
    options = Options(ocr=ocr, languages=languages, pages=pages)
    if out is None and len(paths) == 1:
        try:
            result = extract_file(paths[0], options, password)
        except PdfqError as exc:
            err.print(f"[red]{paths[0]}: {exc.code.value}: {exc.message}[/]")
            raise typer.Exit(EXIT_FAILED) from exc
        typer.echo(render(result, fmt))
        return
    folder = out or Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err) as progress:
        task = progress.add_task("extracting", total=len(paths))
        for path in paths:
            progress.update(task, description=path.name)
            try:
                result = extract_file(path, options, password)
            except PdfqError as exc:
                failed += 1
                progress.console.print(f"[red]{path}: {exc.code.value}: {exc.message}[/]")
            except Exception as exc:  # one file's bug must not stop the others
                failed += 1
                progress.console.print(f"[red]{path}: internal: {type(exc).__name__}: {exc}[/]")
            else:
                target = folder / (path.stem + FORMATS[fmt])
                target.write_text(render(result, fmt), encoding="utf-8")
                progress.console.print(f"{path} → {target} ({len(result.pages)} pages)")
            progress.advance(task)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command()(extract)
