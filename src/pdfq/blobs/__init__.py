"""Blob storage for input files and results: the :class:`Blobs` protocol and its factory.

Keys are slash-separated relative paths (``<job id>/input``, ``<job id>/a1/result.json``).
Backends: ``file://`` (local folder, embedded default) and ``s3://bucket/prefix``.
All methods are blocking; the API calls them from worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from pdfq.config import Settings

CHUNK_SIZE = 64 * 1024


class BlobWriter(Protocol):
    """A blob being written: nothing is visible under its key before :meth:`commit`."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Blobs(Protocol):
    def writer(self, key: str) -> BlobWriter:
        """Start writing ``key``; call ``commit()`` to publish it or ``abort()`` to drop it."""
        ...

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the blob from ``offset``."""
        ...

    def iter_chunks(
        self, key: str, chunk_size: int = CHUNK_SIZE, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        """Stream a blob (or ``length`` bytes of it from ``offset``) without loading it whole."""
        ...

    def local_file(self, key: str) -> AbstractContextManager[Path]:
        """A local path holding the blob for the duration of the block (downloaded if remote)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The blob's own path when it lives on local disk (served directly), else ``None``."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Delete one blob; ``False`` when there was none."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix/``; returns how many were removed."""
        ...

    def copy_prefix(self, source: str, target: str) -> int:
        """Copy every blob under ``source/`` to the same path under ``target/`` (within the
        store: hard links on disk, server-side copies on S3); returns how many were copied."""
        ...

    def check(self) -> None:
        """Raise :class:`~pdfq.errors.StorageError` unless the storage is reachable."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def put_file(blobs: Blobs, key: str, path: Path) -> None:
    """Store a local file under ``key``, streamed (dropped again if reading it fails)."""
    writer = blobs.writer(key)
    try:
        with path.open("rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def open_blobs(settings: Settings) -> Blobs:
    """The backend named by ``PDFQ_BLOBS_URL`` (imported lazily)."""
    url = urlparse(settings.blobs_url)
    if url.scheme == "file":
        from pdfq.blobs.local import LocalBlobs

        return LocalBlobs(Path(unquote(url.path)))
    if url.scheme == "s3":
        from pdfq.blobs.s3 import S3Blobs

        return S3Blobs.from_settings(settings)
    raise ValueError(f"unsupported PDFQ_BLOBS_URL scheme {url.scheme!r} (use file:// or s3://)")


__all__ = ["CHUNK_SIZE", "BlobWriter", "Blobs", "check_key", "open_blobs", "put_file"]
