"""The safety scan that runs before any parsing: structure, active content and stream bombs.

qpdf (through pikepdf) walks every object once and records what a reviewer would want to know
(JavaScript, launch and URI actions, embedded files, XFA forms, encryption, object count).
It also finds streams that would inflate beyond ``max_stream_bytes`` *without* inflating them
in memory: a flate stream is inflated in bounded steps and only counted, and a stream whose
compressed size cannot reach the limit (flate expands at most ~1032:1) is not inflated at all.
Nothing the PDF says is executed or fetched.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pikepdf

from pdfq.errors import Encrypted, UnsafePdf

# Largest expansion each filter can produce (decoded bytes per encoded byte).
_MAX_RATIO = {
    "/FlateDecode": 1032.0,
    "/Fl": 1032.0,
    "/LZWDecode": 1000.0,
    "/LZW": 1000.0,
    "/RunLengthDecode": 128.0,
    "/RL": 128.0,
    "/ASCII85Decode": 0.8,
    "/A85": 0.8,
    "/ASCIIHexDecode": 0.5,
    "/AHx": 0.5,
}
# Image codecs are only decoded when a page is rendered, where the pixel limit applies.
_IMAGE_FILTERS = {"/DCTDecode", "/DCT", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode", "/CCF"}
_ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch_actions",
    "/URI": "uri_actions",
    "/SubmitForm": "submit_form_actions",
    "/ImportData": "import_data_actions",
    "/GoToR": "remote_goto_actions",
    "/GoToE": "embedded_goto_actions",
}
_STEP = 1 << 20
_MAX_DEPTH = 32  # nesting of direct dictionaries and arrays inside one object
# Keys under which an object may hold actions written in place.
_ACTION_KEYS = frozenset({"/A", "/AA", "/OpenAction", "/Annots", "/Next", "/Fields", "/Kids"})


@dataclass(slots=True)
class ScanReport:
    """What the scan saw. ``findings`` holds only non-zero counts and true flags."""

    findings: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    """Why qpdf could not parse the structure (pdfium may still repair it)."""

    def count(self, key: str, n: int = 1) -> None:
        self.findings[key] = self.findings.get(key, 0) + n


def _filters(stream: pikepdf.Stream) -> list[str]:
    value = stream.get("/Filter")
    if value is None:
        return []
    if isinstance(value, pikepdf.Array):
        return [str(v) for v in value]
    return [str(value)]


def _inflate_size(data: bytes, limit: int) -> int:
    """Bytes ``data`` inflates to, counting in 1 MiB steps and stopping past ``limit``."""
    inflater = zlib.decompressobj()
    total = 0
    pending = data
    try:
        while pending and total <= limit:
            total += len(inflater.decompress(pending, _STEP))
            pending = inflater.unconsumed_tail
        if total <= limit:
            total += len(inflater.flush())
    except zlib.error:
        pass  # damaged data inflates no further; pdfium treats it the same way
    return total


def _decoded_size_over(stream: pikepdf.Stream, filters: list[str], limit: int) -> int | None:
    """The decoded size if it exceeds ``limit`` (checked without decoding whole), else None."""
    raw_length = int(stream.get("/Length", 0) or 0)
    potential = float(max(raw_length, 1))
    for f in filters:
        potential *= _MAX_RATIO.get(f, 1.0)
    if potential <= limit:
        return None
    data = stream.read_raw_bytes()
    for f in filters[:-1]:  # text encodings before a final flate step
        if f in ("/ASCII85Decode", "/A85"):
            data = base64.a85decode(
                data.strip().removesuffix(b"~>"), adobe=False, ignorechars=b" \t\n\r\x0c"
            )
        elif f in ("/ASCIIHexDecode", "/AHx"):
            data = binascii.unhexlify(b"".join(data.split()).rstrip(b">"))
        else:
            return None  # chains we cannot bound cheaply are left to the worker's memory cap
    if filters[-1] not in ("/FlateDecode", "/Fl"):
        return None
    size = _inflate_size(data, limit)
    return size if size > limit else None


def _inspect(obj: pikepdf.Object, report: ScanReport, max_stream_bytes: int) -> None:
    if isinstance(obj, pikepdf.Stream):
        report.count("streams")
        if obj.get("/Type") == pikepdf.Name.EmbeddedFile:
            report.count("embedded_files")
        filters = _filters(obj)
        if filters and not _IMAGE_FILTERS.intersection(filters):
            try:
                over = _decoded_size_over(obj, filters, max_stream_bytes)
            except (ValueError, binascii.Error, pikepdf.PdfError):
                over = None
            if over is not None:
                raise UnsafePdf(
                    f"a stream (object {obj.objgen[0]}) inflates beyond "
                    f"{max_stream_bytes // (1 << 20)} MiB: likely a decompression bomb"
                )
        _inspect_direct(obj.stream_dict, report)
    elif isinstance(obj, pikepdf.Dictionary | pikepdf.Array):
        _inspect_direct(obj, report)


def _inspect_action(obj: pikepdf.Dictionary, report: ScanReport) -> None:
    action = obj.get("/S")
    if isinstance(action, pikepdf.Name) and str(action) in _ACTIONS:
        report.count(_ACTIONS[str(action)])
    elif "/JS" in obj:
        report.count("javascript")


def _inspect_direct(top: pikepdf.Object, report: ScanReport) -> None:
    """Look for actions in ``top`` and in the dictionaries written inside it where actions
    live (an annotation's ``/A``, a trigger table ``/AA``, an ``/Annots`` array, an action's
    ``/Next``…), which are usually not objects of their own. Indirect references are not
    followed (the walk visits every object itself); neither is nesting deeper than
    :data:`_MAX_DEPTH` (recorded as ``deep_nesting``), so there is no recursion to exploit."""
    stack: list[tuple[pikepdf.Object, int, bool]] = [(top, 0, False)]
    while stack:
        obj, depth, every = stack.pop()
        if isinstance(obj, pikepdf.Dictionary):
            _inspect_action(obj, report)
            children = [(v, k == "/AA") for k, v in obj.items() if every or k in _ACTION_KEYS]
        elif isinstance(obj, pikepdf.Array):
            children = [(item, False) for item in obj]
        else:
            continue
        for child, all_keys in children:
            if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
                if depth + 1 > _MAX_DEPTH:
                    report.findings["deep_nesting"] = True
                    break
                stack.append((child, depth + 1, all_keys))


def _walk(pdf: pikepdf.Pdf, report: ScanReport, max_stream_bytes: int) -> int:
    """Inspect every object; returns how many there are."""
    count = 0
    for obj in pdf.objects:
        count += 1
        try:
            _inspect(obj, report, max_stream_bytes)
        except UnsafePdf:
            raise
        except Exception:  # damaged objects (bad names, broken streams) are counted, not fatal
            report.count("damaged_objects")
    return count


def _inspect_catalog(pdf: pikepdf.Pdf, report: ScanReport) -> None:
    if pdf.is_encrypted:
        report.findings["encrypted"] = True
    root = pdf.Root
    if "/OpenAction" in root:
        report.findings["open_action"] = True
    if "/AA" in root:
        report.findings["additional_actions"] = True
    acroform = root.get("/AcroForm")
    if isinstance(acroform, pikepdf.Dictionary) and "/XFA" in acroform:
        report.findings["xfa"] = True
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/JavaScript" in names:
            report.count("javascript")
        if "/EmbeddedFiles" in names:
            report.findings["embedded_file_names"] = True


def _describe(exc: BaseException, path: Path) -> str:
    # qpdf prefixes messages with the file's path: never show server paths to clients.
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return text.replace(f"{path}: ", "").replace(str(path), "the file")[:300]


def scan_pdf(path: Path, *, password: str | None, max_stream_bytes: int) -> ScanReport:
    """Scan the file. Raises :class:`UnsafePdf` for bombs, :class:`Encrypted` for a bad password.

    A file qpdf cannot parse at all is reported as unreadable; pdfium decides next whether it
    can be repaired (``malformed_pdf`` otherwise).
    """
    report = ScanReport()
    try:
        pdf = pikepdf.open(path, password=password or "")
    except pikepdf.PasswordError as exc:
        raise Encrypted(
            "the PDF is encrypted and the password is wrong"
            if password
            else "the PDF is encrypted: send its password in the `password` field"
        ) from exc
    except (pikepdf.PdfError, OSError, RecursionError) as exc:
        report.problem = _describe(exc, path)
        return report
    with pdf:
        try:
            _inspect_catalog(pdf, report)
            report.findings["objects"] = _walk(pdf, report, max_stream_bytes)
        except UnsafePdf:
            raise
        except Exception as exc:
            report.problem = _describe(exc, path)
    return report
