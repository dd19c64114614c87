"""Turning other inputs into a PDF that the rest of ``extract/`` reads like any other.

* **Images** (PNG, JPEG, TIFF with any number of pages) become image-only PDF pages at their
  own resolution (300 dpi when they say none), which OCR then reads.
* **Office documents** (DOCX, PPTX, XLSX, ODT, ODP, ODS, RTF) are converted by LibreOffice
  running headless in its own process: a fresh profile folder per conversion (parallel
  conversions never share one), a time limit after which its whole process group is killed, an
  address-space cap (``prlimit``), and no network where the kernel lets an unprivileged
  process have its own empty network namespace (``unshare``): a document cannot make the
  converter fetch anything.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageSequence, UnidentifiedImageError

from pdfq import scratch
from pdfq.errors import JobTimeout, MalformedPdf, TooManyPages, UnsafePdf, UnsupportedType
from pdfq.formats import InputType

if TYPE_CHECKING:
    from pdfq.config import Settings

DEFAULT_DPI = 300
SUFFIXES = {
    InputType.DOCX: ".docx",
    InputType.PPTX: ".pptx",
    InputType.XLSX: ".xlsx",
    InputType.ODT: ".odt",
    InputType.ODP: ".odp",
    InputType.ODS: ".ods",
    InputType.RTF: ".rtf",
}


@dataclass(frozen=True, slots=True)
class ConvertLimits:
    max_pages: int = 5000
    max_pixels: int = 40_000_000
    timeout_seconds: float = 120.0
    max_memory_mb: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings) -> ConvertLimits:
        """The limits a worker applies, from its settings."""
        return cls(
            max_pages=settings.max_pages,
            max_pixels=settings.ocr_max_pixels,
            timeout_seconds=settings.convert_time_limit_seconds,
            max_memory_mb=settings.convert_max_memory_mb,
        )


@dataclass(frozen=True, slots=True)
class Conversion:
    source: InputType
    seconds: float
    converter: str


def to_pdf(source: Path, target: Path, kind: InputType, limits: ConvertLimits) -> Conversion:
    """Write ``source`` (of type ``kind``) as a PDF at ``target``."""
    started = time.monotonic()
    if kind.family == "image":
        images_to_pdf(source, target, limits)
        converter = "pillow"
    elif kind in SUFFIXES:
        office_to_pdf(source, target, kind, limits)
        converter = "libreoffice"
    else:
        raise UnsupportedType(f"{kind.value} files cannot be converted")
    return Conversion(kind, round(time.monotonic() - started, 3), converter)


def images_to_pdf(source: Path, target: Path, limits: ConvertLimits) -> int:
    """Each frame of the image becomes a page; returns the page count."""
    # Pillow refuses larger images itself (decompression bombs) when told the limit.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with Image.open(source) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > limits.max_pages:
                raise TooManyPages(f"the image has {frames} pages; the limit is {limits.max_pages}")
            dpi = image.info.get("dpi", (DEFAULT_DPI, DEFAULT_DPI))[0] or DEFAULT_DPI
            dpi = float(dpi) if float(dpi) >= 50 else DEFAULT_DPI
            pages = [_printable(frame.copy()) for frame in ImageSequence.Iterator(image)]
    except Image.DecompressionBombError as exc:
        raise UnsafePdf(f"the image is larger than {limits.max_pixels} pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MalformedPdf(f"the image cannot be read: {exc}") from exc
    pages[0].save(target, "PDF", save_all=True, append_images=pages[1:], resolution=dpi)
    return len(pages)


def _printable(frame: Image.Image) -> Image.Image:
    if frame.mode in ("1", "L", "RGB"):
        return frame
    if frame.mode in ("I;16", "I;16B", "I", "F"):
        return frame.point(lambda value: value / 256).convert("L")
    return frame.convert("RGB")


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@functools.cache
def _isolation() -> list[str]:
    """``unshare`` arguments giving the converter no network, when this kernel allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for flags in (["--net"], ["--map-root-user", "--net"]):
        try:
            probe = subprocess.run(
                [unshare, *flags, "true"], capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return [unshare, *flags]
    return []


def office_to_pdf(source: Path, target: Path, kind: InputType, limits: ConvertLimits) -> None:
    program = soffice()
    if program is None:
        raise UnsupportedType(
            f"{kind.value.upper()} files need LibreOffice on the workers, and it is not "
            "installed (Debian: libreoffice-writer-nogui, -impress-nogui, -calc-nogui)"
        )
    with tempfile.TemporaryDirectory(prefix=scratch.prefix("convert")) as folder:
        work = Path(folder)
        document = work / f"document{SUFFIXES[kind]}"
        shutil.copyfile(source, document)
        command = [
            *(["prlimit", f"--as={limits.max_memory_mb * 1024 * 1024}", "--"]
              if shutil.which("prlimit") else []),
            *_isolation(),
            program,
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--nodefault",
            "--nologo",
            f"-env:UserInstallation=file://{work / 'profile'}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work / "out"),
            str(document),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole on time-out
            env={**os.environ, "HOME": str(work)},
        )
        try:
            output, _ = process.communicate(timeout=limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise JobTimeout(
                f"converting the {kind.value.upper()} file took longer than "
                f"{limits.timeout_seconds:g} s"
            ) from None
        converted = work / "out" / "document.pdf"
        if process.returncode != 0 or not converted.exists():
            detail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise MalformedPdf(
                f"the {kind.value.upper()} file could not be converted to PDF: {detail[0][:300]}"
            )
        shutil.move(converted, target)
