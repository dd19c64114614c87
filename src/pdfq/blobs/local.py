"""Local-folder blobs (the embedded default): one file per key under a root folder.

Writes go to a temporary file in ``<root>/.tmp`` and are renamed into place on commit, so a
reader never sees a half-written blob and a crash leaves only temporary files (removed by
:meth:`LocalBlobs.remove_stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pdfq.blobs import CHUNK_SIZE, check_key
from pdfq.errors import StorageError


class LocalBlobWriter:
    """Writes to a temporary file (created on first use) renamed into place on commit."""

    def __init__(self, final: Path, tmp_dir: Path, *, fsync: bool) -> None:
        self._final = final
        self._tmp_dir = tmp_dir
        self._fsync = fsync
        self._tmp: Path | None = None
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="upload-")
            self._tmp = Path(name)
            self._file = os.fdopen(fd, "wb")
        return self._file

    def write(self, data: bytes) -> None:
        try:
            self._open().write(data)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot write blob: {exc}") from exc

    def commit(self) -> None:
        try:
            file = self._open()
            file.flush()
            if self._fsync:
                os.fsync(file.fileno())
            file.close()
            self._final.parent.mkdir(parents=True, exist_ok=True)
            assert self._tmp is not None
            os.replace(self._tmp, self._final)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot store blob: {exc}") from exc

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class LocalBlobs:
    """Blobs in a folder on this machine."""

    def __init__(self, root: Path, *, fsync_inputs: bool = True) -> None:
        self.root = root
        self.tmp_dir = root / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync_inputs

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str) -> LocalBlobWriter:
        return LocalBlobWriter(self._path(key), self.tmp_dir, fsync=self._fsync)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write blob {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot read blob {key}: {exc}") from exc

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot read blob {key}: {exc}") from exc

    def iter_chunks(
        self, key: str, chunk_size: int = CHUNK_SIZE, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        with self._path(key).open("rb") as f:
            f.seek(offset)
            left = length if length is not None else -1
            while left and (chunk := f.read(chunk_size if left < 0 else min(chunk_size, left))):
                if left > 0:
                    left -= len(chunk)
                yield chunk

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.exists():
            raise FileNotFoundError(key)
        yield path

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete blob {key}: {exc}") from exc
        return True

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)
        count = 0
        with contextlib.suppress(FileNotFoundError):  # gone, or being removed by another
            count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def copy_prefix(self, source: str, target: str) -> int:
        folder, destination = self._path(source), self._path(target)
        copied = 0
        try:
            for path in folder.rglob("*"):
                if not path.is_file():
                    continue
                copy = destination / path.relative_to(folder)
                copy.parent.mkdir(parents=True, exist_ok=True)
                try:
                    # Blobs are never modified in place (writes replace them), so a hard link
                    # is a copy that costs no space and no time.
                    os.link(path, copy)
                except FileExistsError:
                    copy.unlink()
                    os.link(path, copy)
                except OSError:  # a file system without hard links
                    shutil.copyfile(path, copy)
                copied += 1
        except OSError as exc:
            raise StorageError(f"cannot copy blobs {source} to {target}: {exc}") from exc
        return copied

    def check(self) -> None:
        probe = self.tmp_dir / f"probe-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"blob folder {self.root} is not writable: {exc}") from exc

    def remove_stale_temp_files(self, older_than_seconds: float = 3600) -> int:
        """Drop uploads a crashed process left half-written."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.tmp_dir.glob("upload-*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed
