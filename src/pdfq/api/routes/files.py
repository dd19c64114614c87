"""File routes of a finished job: its extracted images, and the layout preview PDF.

The preview draws the detected blocks over the original pages. Making it means parsing the
PDF, which the API never does in its own process: a child process does it, with a time limit
and an address-space cap, and the file is kept with the job's results for the next request.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from pdfq import results, scratch
from pdfq.api.deps import ReaderDep, ServicesDep
from pdfq.api.disposition import inline
from pdfq.api.routes.jobs import gone
from pdfq.api.routes.results import NOT_DONE, job_record, read_part, unfinished
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.blobs import put_file
from pdfq.errors import JobTimeout, NotFound, StorageError
from pdfq.formats import InputType
from pdfq.store.jobs import JobRecord

router = APIRouter(prefix="/v1/jobs", tags=["results"])

PREVIEW = "layout.pdf"
PREVIEW_SECONDS = 120.0
PREVIEW_MEMORY = 2048 * 1024 * 1024

ImageName = Annotated[
    str, PathParam(pattern=results.IMAGE_NAME.pattern, description="As listed in the result.")
]


@router.get(
    "/{job_id}/images/{name}",
    summary="One image extracted from the document",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}}},
        **NOT_DONE,
    },
)
async def get_image(
    job_id: str, name: ImageName, services: ServicesDep, principal: ReaderDep
) -> Response:
    record = await blocking(job_record, services, job_id, principal.tenant)
    if (answer := unfinished(record)) is not None:
        return answer
    assert record.result_attempt is not None
    key = results.image_key(record.id, record.result_attempt, name)
    try:
        data = await blocking(services.blobs.get, key)
    except FileNotFoundError as exc:
        raise NotFound(f"job {job_id} has no image {name}") from exc
    media_type = results.IMAGE_TYPES[name.rsplit(".", 1)[1]]
    return Response(
        data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get(
    "/{job_id}/layout.pdf",
    summary="The pages with the detected blocks drawn over them, for review",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **NOT_DONE},
)
async def get_layout(job_id: str, services: ServicesDep, principal: ReaderDep) -> Response:
    record = await blocking(job_record, services, job_id, principal.tenant)
    if (answer := unfinished(record)) is not None:
        return answer
    if record.input_removed_at is not None:
        raise gone(record)
    assert record.result_attempt is not None
    key = results.result_key(record.id, record.result_attempt, PREVIEW)
    try:
        data = await blocking(services.blobs.get, key)  # drawn before
    except FileNotFoundError:
        data = await _draw_and_keep(services, record, key)
    headers = {"Content-Disposition": inline(f"{job_id}-layout.pdf")}
    return Response(data, media_type="application/pdf", headers=headers)


def _fetch(services: Services, key: str, target: Path) -> bool:
    try:
        with target.open("wb") as out:
            for chunk in services.blobs.iter_chunks(key):
                out.write(chunk)
    except FileNotFoundError:
        return False
    return True


async def _draw_and_keep(services: Services, record: JobRecord, key: str) -> bytes:
    """Draw the preview in a scratch folder and keep it under ``key`` for the next call."""
    folder = Path(tempfile.mkdtemp(prefix=scratch.prefix("preview")))
    try:
        target = folder / PREVIEW
        await _make_preview(services, record, folder, target)
        await blocking(put_file, services.blobs, key, target)
        return await blocking(target.read_bytes)
    finally:
        await blocking(shutil.rmtree, folder, True)


def _sources(services: Services, record: JobRecord, folder: Path) -> tuple[Path, Path]:
    """The document's PDF (the input, or the PDF converted from it) and its JSON result, as
    local files."""
    key = results.input_key(record.id)
    if record.input_type != InputType.PDF:
        key = results.converted_key(record.id)
    source = folder / "source.pdf"
    if not _fetch(services, key, source):
        raise StorageError("the job's document is missing from blob storage")
    result = folder / "result.json"
    result.write_bytes(read_part(services, record, "json"))
    return source, result


async def _make_preview(services: Services, record: JobRecord, folder: Path, target: Path) -> None:
    source, result = await blocking(_sources, services, record, folder)
    command = [sys.executable, "-m", "pdfq.extract.preview", str(source), str(result), str(target)]
    if (prlimit := shutil.which("prlimit")) is not None:
        command = [prlimit, f"--as={PREVIEW_MEMORY}", "--", *command]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(PREVIEW_SECONDS):
            _, errors = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise JobTimeout(
            f"drawing the layout preview took longer than {PREVIEW_SECONDS:g} s"
        ) from None
    except asyncio.CancelledError:  # the client went away: so does the drawing
        process.kill()
        await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        detail = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise StorageError(f"the layout preview could not be drawn: {detail[0][:300]}")
