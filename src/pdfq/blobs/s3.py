"""S3-compatible blobs (AWS S3, MinIO, Ceph, …) for the distributed shape.

``PDFQ_BLOBS_URL=s3://bucket/prefix``; endpoint and region from ``PDFQ_S3_ENDPOINT_URL`` and
``PDFQ_S3_REGION``; credentials come from the usual AWS chain (``AWS_ACCESS_KEY_ID`` …,
profiles, instance roles). Uploads stream as multipart uploads in ``PDFQ_S3_PART_BYTES``
parts (a small file is one PUT), downloads stream to a temporary file: no file is ever held
whole in memory. Connection failures raise :class:`~pdfq.errors.StorageError` (transient).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pdfq import scratch
from pdfq.blobs import CHUNK_SIZE, check_key
from pdfq.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

    from pdfq.config import Settings

_MISSING = ("NoSuchKey", "404", "NotFound")


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            raise FileNotFoundError(what) from exc
        raise StorageError(f"S3 refused to {what}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"cannot reach S3 to {what}: {exc}") from exc


class S3BlobWriter:
    """A multipart upload started only when the first full part is ready."""

    def __init__(self, client: Any, bucket: str, key: str, part_bytes: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def _send_part(self, data: bytes) -> None:
        with _errors(f"upload {self._key}"):
            if self._upload_id is None:
                created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
            self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def write(self, data: bytes) -> None:
        self._buffer += data
        try:
            while len(self._buffer) >= self._part_bytes:
                part = bytes(self._buffer[: self._part_bytes])
                del self._buffer[: self._part_bytes]
                self._send_part(part)
        except StorageError:
            self.abort()
            raise

    def commit(self) -> None:
        try:
            if self._upload_id is None:  # small enough for one request
                with _errors(f"store {self._key}"):
                    self._client.put_object(
                        Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer)
                    )
                return
            if self._buffer:
                self._send_part(bytes(self._buffer))
                self._buffer.clear()
            with _errors(f"complete {self._key}"):
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except StorageError:
            self.abort()
            raise

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
            self._upload_id = None


class S3Blobs:
    """Blobs in an S3 bucket, under an optional key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_bytes: int = 8 * 1024 * 1024,
        pool_size: int = 32,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_bytes = max(part_bytes, 5 * 1024 * 1024)  # S3's smallest part
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(
                max_pool_connections=pool_size,
                retries={"max_attempts": 5, "mode": "adaptive"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Blobs:
        url = urlparse(settings.blobs_url)
        return cls(
            url.netloc,
            unquote(url.path),
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            part_bytes=settings.s3_part_bytes,
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def writer(self, key: str) -> S3BlobWriter:
        return S3BlobWriter(self.client, self.bucket, self._key(key), self.part_bytes)

    def put(self, key: str, data: bytes) -> None:
        with _errors(f"store {key}"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        with _errors(f"read {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:  # "bytes=5-4" is no range to S3: it would answer the whole object
            return b""
        with _errors(f"read {key}"):
            answer = self.client.get_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Range=f"bytes={offset}-{offset + length - 1}",
            )
            return bytes(answer["Body"].read())

    def iter_chunks(
        self, key: str, chunk_size: int = CHUNK_SIZE, *, offset: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        extra: dict[str, Any] = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            extra["Range"] = f"bytes={offset}-{end}"
        if length == 0:
            return
        with _errors(f"read {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)["Body"]
        try:
            with _errors(f"read {key}"):  # a connection lost mid-stream is transient too
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        fd, name = tempfile.mkstemp(prefix=scratch.prefix("blob"), suffix=".blob")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_chunks(key, 1024 * 1024):
                    out.write(chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return None

    def exists(self, key: str) -> bool:
        try:
            with _errors(f"look up {key}"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        with _errors(f"delete {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return True

    def delete_prefix(self, prefix: str) -> int:
        full = self._key(prefix) + "/"
        removed = 0
        with _errors(f"delete {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": item["Key"]} for item in page.get("Contents", [])
                ]
                if keys:
                    answer = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    # The call succeeds even when keys were not deleted (no permission, an
                    # object lock): those come back as errors, and the files stay.
                    if failed := answer.get("Errors"):
                        first = failed[0]
                        raise StorageError(
                            f"S3 kept {len(failed)} of {len(keys)} files under {prefix}: "
                            f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                        )
                    removed += len(keys)
        return removed

    def copy_prefix(self, source: str, target: str) -> int:
        full, destination = self._key(source) + "/", self._key(target) + "/"
        copied = 0
        with _errors(f"copy {source} to {target}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                for item in page.get("Contents", []):
                    # The managed copy switches to a multipart copy for large objects.
                    self.client.copy(
                        {"Bucket": self.bucket, "Key": item["Key"]},
                        self.bucket,
                        destination + item["Key"][len(full) :],
                    )
                    copied += 1
        return copied

    def check(self) -> None:
        try:
            with _errors(f"reach bucket {self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError as exc:
            raise StorageError(f"bucket {self.bucket} does not exist") from exc
