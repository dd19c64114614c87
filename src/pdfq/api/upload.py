"""Streaming multipart uploads: request body → blob storage in bounded memory.

The body is parsed as it arrives (never spooled whole): each file part is hashed, sized,
recognised by its content (``formats.py``: a PDF, an image or an office document, from its
first kilobyte and, for ZIP-based formats, its last 64 KiB) and written to its blob in batches
handed to a thread, so the event loop never blocks on disk or network. An over-size file is
refused as soon as it passes the limit, one of no supported type as soon as its first kilobyte
is in (a ZIP archive: at its end), and a
client that disconnects leaves neither a job nor a file behind.

The parser's callbacks only record state; :func:`_pump` does the I/O between chunks. A
single upload (``POST /v1/jobs``) leaves its file's last batch, all of a small file, to be
stored in the same hop to a thread as the job's creation: one hop per upload instead of two
(about 0.25 ms less per job, measured in pairs on two cores).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from pdfq import formats
from pdfq.api.threads import blocking
from pdfq.blobs import BlobWriter
from pdfq.errors import EmptyFile, InputError, InvalidRequest, NotAPdf, TooLarge, UnsupportedType
from pdfq.formats import InputType

SIGNATURE_WINDOW = formats.HEAD_BYTES
WRITE_BATCH = 1024 * 1024  # bytes gathered before one write in a thread
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
MULTIPART_OVERHEAD = 1024 * 1024  # allowance for boundaries and form fields in Content-Length
DRAIN_LIMIT = 1024 * 1024  # the rest of a refused body is read when at most this long
FILE_FIELDS = ("file", "files")

_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w-]*)'[^']*'([^;\s]+)", re.IGNORECASE)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/]")


def sanitize_filename(raw: str | None, default: str = "document.pdf") -> str:
    """A file name safe to store and to echo in headers: no paths or control characters."""
    if not raw:
        return default
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return name[:200] or default


def unsupported(filename: str) -> InputError:
    """The refusal of a file of no supported type: ``not_a_pdf`` when its name claims a PDF."""
    if filename.lower().endswith(".pdf"):
        return NotAPdf(
            f"The file is not a PDF (no %PDF- header in its first kilobyte), nor another "
            f"supported type ({formats.SUPPORTED})."
        )
    return UnsupportedType(f"This file type is not supported; send {formats.SUPPORTED}.")


def not_accepted(found: InputType) -> str:
    setting = "PDFQ_ACCEPT_IMAGES" if found.family == "image" else "PDFQ_ACCEPT_OFFICE"
    return f"{found.value.upper()} files are not accepted by this server ({setting})"


NewWriter = Callable[[str], tuple[str, BlobWriter]]
"""Given a sanitised file name, start a blob: returns ``(key, writer)``; must not block."""


@dataclass
class FilePart:
    """One uploaded file, as stored (or the reason it was refused)."""

    filename: str
    key: str
    size: int = 0
    sha256: str = ""
    input_type: InputType = InputType.PDF
    error: InputError | None = None


class _Tail:
    """The last :data:`~pdfq.formats.TAIL_BYTES` of a stream, kept in the chunks they came
    in (dropping whole chunks from the front: no copying per chunk)."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.chunks and self.size - len(self.chunks[0]) >= formats.TAIL_BYTES:
            self.size -= len(self.chunks.popleft())

    def value(self) -> bytes:
        return b"".join(self.chunks)[-formats.TAIL_BYTES :]


@dataclass
class _File:
    part: FilePart
    writer: BlobWriter
    digest: Any = field(default_factory=hashlib.sha256)
    head: bytes = b""
    tail: _Tail = field(default_factory=_Tail)
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    ended: bool = False
    closed: bool = False


@dataclass
class UploadResult:
    files: list[FilePart]
    fields: dict[str, str]
    unstored: list[_File] = field(default_factory=list, repr=False)
    """Files read to their end whose last bytes are not yet written and committed
    (``receive_upload(..., store=False)``): :meth:`store` or :meth:`discard` them."""

    def store(self) -> None:
        """Write and commit the files left unstored. Blocking: call it in a thread, with the
        work that follows (one hop to a thread per upload instead of two)."""
        while self.unstored:
            current = self.unstored.pop(0)
            current.closed = True
            _write_and_commit(current.writer, _take_pending(current))

    def discard(self) -> None:
        """Drop the files left unstored (blocking, as :meth:`store`)."""
        while self.unstored:
            current = self.unstored.pop(0)
            current.closed = True
            current.writer.abort()


class _Receiver:
    """python-multipart callbacks; they record, never do I/O."""

    def __init__(
        self,
        new_writer: NewWriter,
        max_file_bytes: int,
        max_files: int,
        lenient: bool,
        accepted: frozenset[str],
    ):
        self.new_writer = new_writer
        self.accepted = accepted  # input families: pdf, image, office
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.lenient = lenient  # batches: a bad file is recorded and the others carry on
        self.fields: dict[str, str] = {}
        self.files: list[_File] = []
        self._current: _File | None = None
        self._field: str | None = None
        self._field_data = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._current = None
        self._field = None
        self._field_data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, params = parse_options_header(disposition)
        name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_name: str | None = None
        if star := _FILENAME_STAR.search(disposition.decode("latin-1")):
            raw_name = unquote(star.group(2), encoding=star.group(1) or "utf-8", errors="replace")
        elif b"filename" in params:
            raw_name = params[b"filename"].decode("utf-8", "replace")
        if name in FILE_FIELDS:
            if len(self.files) >= self.max_files:
                raise InvalidRequest(f"too many files: at most {self.max_files} per request")
            filename = sanitize_filename(raw_name)
            key, writer = self.new_writer(filename)
            self._current = _File(FilePart(filename=filename, key=key), writer)
            self.files.append(self._current)
        elif raw_name is not None:
            raise InvalidRequest(f"unexpected file field {name!r}; send files as `file`")
        else:
            if len(self.fields) >= MAX_FIELDS:
                raise InvalidRequest("too many form fields")
            self._field = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        current = self._current
        if current is None:
            self._field_data += chunk
            if len(self._field_data) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"form field {self._field!r} is too long")
            return
        part = current.part
        if part.error is not None:
            return  # a refused file of a batch: drop the rest of its bytes
        part.size += len(chunk)
        if part.size > self.max_file_bytes:
            self._refuse(current, TooLarge(f"the file is larger than {self.max_file_bytes} bytes"))
            return
        if len(current.head) < SIGNATURE_WINDOW:
            current.head += chunk[: SIGNATURE_WINDOW - len(current.head)]
            if len(current.head) >= SIGNATURE_WINDOW and not formats.sniff_head(current.head):
                self._refuse(current, unsupported(part.filename))
                return
        current.tail.add(chunk)
        current.digest.update(chunk)
        current.pending.append(chunk)
        current.pending_bytes += len(chunk)

    def on_part_end(self) -> None:
        current = self._current
        if current is None:
            if self._field is not None:
                self.fields[self._field] = self._field_data.decode("utf-8", "replace")
            return
        current.ended = True
        if current.part.error is None:
            if current.part.size == 0:
                self._refuse(current, EmptyFile())
            else:
                found = formats.sniff(current.head, current.tail.value())
                if found is None:
                    self._refuse(current, unsupported(current.part.filename))
                elif found.family not in self.accepted:
                    self._refuse(current, UnsupportedType(not_accepted(found)))
                else:
                    current.part.input_type = found

    def _refuse(self, current: _File, error: InputError) -> None:
        current.part.error = error
        current.pending.clear()
        current.pending_bytes = 0
        if not self.lenient:
            raise error


async def _pump(receiver: _Receiver, *, store: bool = True) -> None:
    """The I/O the callbacks asked for: write batches, commit finished files (unless not
    ``store``: then they wait, their last bytes in memory), drop refused."""
    for current in receiver.files:
        if current.closed:
            continue
        if current.part.error is not None:
            current.closed = True
            await blocking(current.writer.abort)
            continue
        if current.ended:
            current.part.sha256 = current.digest.hexdigest()
            if store:
                current.closed = True
                await blocking(_write_and_commit, current.writer, _take_pending(current))
        elif current.pending_bytes >= WRITE_BATCH:
            await blocking(current.writer.write, _take_pending(current))


def _take_pending(current: _File) -> bytes:
    data = b"".join(current.pending)
    current.pending.clear()
    current.pending_bytes = 0
    return data


def _write_and_commit(writer: BlobWriter, data: bytes) -> None:
    if data:
        writer.write(data)
    writer.commit()


async def _abort_all(receiver: _Receiver) -> None:
    for current in receiver.files:
        if not current.closed:
            current.closed = True
            await blocking(current.writer.abort)


async def _drain(request: Request, stream: AsyncIterator[bytes]) -> None:
    """Read (and drop) what is left of a small refused body, so the answer is not lost: a
    server that closes a connection with unread bytes makes the kernel reset it, and the
    client may see the reset instead of the answer. A large rest is not read: the connection
    is closed instead (``body_unread``)."""
    left = DRAIN_LIMIT
    async for chunk in stream:
        left -= len(chunk)
        if left < 0:
            return
    request.state.body_unread = False


async def receive_upload(
    request: Request,
    *,
    new_writer: NewWriter,
    max_file_bytes: int,
    max_files: int = 1,
    lenient: bool = False,
    accepted: frozenset[str] = frozenset({"pdf", "image", "office"}),
    store: bool = True,
) -> UploadResult:
    """Stream a ``multipart/form-data`` body into blobs; returns the files and form fields.

    With ``lenient`` (batches) a bad file is recorded on its :class:`FilePart` and the others
    are still stored; otherwise the first bad file raises and nothing is kept. On any error
    or disconnect, files not yet committed are dropped; the caller deletes committed ones.
    Without ``store``, each file's last batch (all of a small file) is left to the caller:
    :meth:`UploadResult.store` or :meth:`UploadResult.discard`.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequest("send the file as multipart/form-data in a field named `file`")
    declared = request.headers.get("content-length", "")
    request.state.body_unread = True
    if declared.isdigit() and int(declared) > max_file_bytes * max_files + MULTIPART_OVERHEAD:
        raise TooLarge(f"the upload is larger than {max_file_bytes} bytes")

    receiver = _Receiver(new_writer, max_file_bytes, max_files, lenient, accepted)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    # Until the body is read to its end, an error answer must close the connection:
    # otherwise the server would go on reading (and discarding) the rest of the upload.
    request.state.body_unread = True
    stream = request.stream()
    try:
        async for chunk in stream:
            parser.write(chunk)
            await _pump(receiver, store=store)
        request.state.body_unread = False
        parser.finalize()
        await _pump(receiver, store=store)
    except MultipartParseError as exc:
        await _abort_all(receiver)
        raise InvalidRequest(f"malformed multipart body: {exc}") from exc
    except InputError as exc:
        await _abort_all(receiver)
        if not isinstance(exc, TooLarge):
            await _drain(request, stream)
        raise
    except BaseException:
        await _abort_all(receiver)
        raise
    if any(not (f.closed or f.ended) for f in receiver.files):
        await _abort_all(receiver)
        raise InvalidRequest("the upload ended in the middle of a file")
    if not receiver.files:
        raise InvalidRequest("no file: send the PDF in a multipart field named `file`")
    unstored = [f for f in receiver.files if not f.closed]
    return UploadResult([f.part for f in receiver.files], receiver.fields, unstored)
