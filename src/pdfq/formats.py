"""What an uploaded file is, from its content alone (never its name).

PDFs, images (PNG, JPEG, TIFF) and office documents (DOCX, PPTX, XLSX, ODT, ODP, ODS, RTF).
Most formats show themselves in their first bytes. Office Open XML files are ZIP archives
whose kind shows in the names of their parts, listed in the archive's central directory at
the end of the file: the upload keeps the file's last bytes for that (:data:`TAIL_BYTES`), so
nothing is read twice and nothing is held whole in memory.
"""

from __future__ import annotations

import re
import struct
from enum import StrEnum


class InputType(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    DOCX = "docx"
    PPTX = "pptx"
    XLSX = "xlsx"
    ODT = "odt"
    ODP = "odp"
    ODS = "ods"
    RTF = "rtf"

    @property
    def family(self) -> str:
        """``pdf``, ``image`` or ``office``."""
        if self is InputType.PDF:
            return "pdf"
        if self in IMAGES:
            return "image"
        return "office"


IMAGES = frozenset({InputType.PNG, InputType.JPEG, InputType.TIFF})
SUPPORTED = "PDF, PNG, JPEG, TIFF, DOCX, PPTX, XLSX, ODT, ODP, ODS and RTF"
HEAD_BYTES = 1024
TAIL_BYTES = 64 * 1024

PDF_SIGNATURE = re.compile(rb"%PDF-\d\.\d")
_ZIP = b"PK\x03\x04"
_ODF = {
    b"application/vnd.oasis.opendocument.text": InputType.ODT,
    b"application/vnd.oasis.opendocument.presentation": InputType.ODP,
    b"application/vnd.oasis.opendocument.spreadsheet": InputType.ODS,
}
_OOXML = {
    "word/document.xml": InputType.DOCX,
    "ppt/presentation.xml": InputType.PPTX,
    "xl/workbook.xml": InputType.XLSX,
}
_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"


def sniff_head(head: bytes) -> InputType | bool | None:
    """The type the first bytes show; ``True`` when only the end of the file can tell (a ZIP
    archive); ``None`` when the file is none of the supported types."""
    if PDF_SIGNATURE.search(head):
        return InputType.PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return InputType.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return InputType.JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return InputType.TIFF
    if head.startswith(b"{\\rtf"):
        return InputType.RTF
    if head.startswith(_ZIP):
        return _odf_type(head) or True
    return None


def sniff(head: bytes, tail: bytes) -> InputType | None:
    """The file's type from its first :data:`HEAD_BYTES` and last :data:`TAIL_BYTES` bytes."""
    found = sniff_head(head)
    if found is not True:
        return found or None
    names = zip_names(tail)
    for part, kind in _OOXML.items():
        if part in names:
            return kind
    return None


def _odf_type(head: bytes) -> InputType | None:
    """OpenDocument files start with a stored ``mimetype`` entry naming their kind."""
    if len(head) < 30 or head[26:28] != struct.pack("<H", 8):
        return None
    name_length, extra_length = struct.unpack("<HH", head[26:30])
    if head[30 : 30 + name_length] != b"mimetype":
        return None
    content = head[30 + name_length + extra_length :]
    for mimetype, kind in _ODF.items():
        if content.startswith(mimetype):
            return kind
    return None


def zip_names(tail: bytes) -> set[str]:
    """Entry names from a ZIP archive's central directory, found in its last bytes (empty
    when the directory is not there or is damaged)."""
    end = tail.rfind(_EOCD)
    if end < 0 or len(tail) - end < 22:
        return set()
    (size,) = struct.unpack("<I", tail[end + 12 : end + 16])
    start = end - size
    if start < 0:
        return set()  # the directory is longer than the tail kept
    names: set[str] = set()
    position = start
    while position + 46 <= end and tail[position : position + 4] == _CENTRAL:
        name_length, extra_length, comment_length = struct.unpack(
            "<HHH", tail[position + 28 : position + 34]
        )
        name = tail[position + 46 : position + 46 + name_length]
        names.add(name.decode("utf-8", "replace"))
        position += 46 + name_length + extra_length + comment_length
    return names
