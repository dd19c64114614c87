"""The Blobs contract, on a local folder and on a real S3-compatible server (moto)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from pdfq.blobs import Blobs, check_key
from pdfq.blobs.local import LocalBlobs
from pdfq.blobs.s3 import S3Blobs
from pdfq.errors import StorageError

MiB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Blobs]:
    if request.param == "local":
        yield LocalBlobs(tmp_path / "blobs")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_endpoint")
        yield S3Blobs(bucket, "some/prefix", endpoint_url=endpoint, part_bytes=5 * MiB)


def test_put_get_range_and_chunks(blobs: Blobs) -> None:
    blobs.put("job1/a1/result.txt", b"hello world")
    assert blobs.get("job1/a1/result.txt") == b"hello world"
    assert blobs.get_range("job1/a1/result.txt", 6, 5) == b"world"
    # An empty part (a page without text): nothing, in the middle and at the end alike.
    assert blobs.get_range("job1/a1/result.txt", 6, 0) == b""
    assert blobs.get_range("job1/a1/result.txt", 11, 0) == b""
    assert b"".join(blobs.iter_chunks("job1/a1/result.txt", 4)) == b"hello world"
    assert blobs.exists("job1/a1/result.txt")
    assert not blobs.exists("job1/a1/other")
    with pytest.raises(FileNotFoundError):
        blobs.get("job1/missing")


def test_a_streamed_upload_is_invisible_until_committed(blobs: Blobs) -> None:
    data = os.urandom(MiB) * 12  # more than two 5 MiB parts on S3
    writer = blobs.writer("job2/input")
    for offset in range(0, len(data), 64 * 1024):
        writer.write(data[offset : offset + 64 * 1024])
    assert not blobs.exists("job2/input")
    writer.commit()
    assert blobs.get("job2/input") == data
    with blobs.local_file("job2/input") as path:
        assert path.read_bytes() == data


def test_an_aborted_upload_leaves_nothing(blobs: Blobs) -> None:
    writer = blobs.writer("job3/input")
    writer.write(os.urandom(6 * MiB))
    writer.abort()
    assert not blobs.exists("job3/input")
    assert blobs.delete_prefix("job3") == 0


def test_delete_prefix_removes_one_job_only(blobs: Blobs) -> None:
    for name in ("input", "a1/result.json", "a1/pages/000001.jsonl"):
        blobs.put(f"job4/{name}", b"x")
    blobs.put("job40/input", b"keep")
    assert blobs.delete_prefix("job4") == 3
    assert not blobs.exists("job4/input")
    assert blobs.get("job40/input") == b"keep"


def test_copy_prefix_copies_one_folder_that_then_lives_on_its_own(blobs: Blobs) -> None:
    blobs.put("job1/a2/result", b"result")
    blobs.put("job1/a2/pages/000001.jsonl", b"pages")
    blobs.put("job1/input", b"input")
    blobs.put("job10/a2/result", b"other job")
    assert blobs.copy_prefix("job1/a2", "job2/a1") == 2
    assert blobs.get("job2/a1/result") == b"result"
    assert blobs.get("job2/a1/pages/000001.jsonl") == b"pages"
    assert not blobs.exists("job2/input")
    blobs.put("job2/a1/result", b"replaced")  # a copy is not a shared file
    assert blobs.get("job1/a2/result") == b"result"
    blobs.delete_prefix("job1")
    assert blobs.get("job2/a1/result") == b"replaced"
    assert blobs.get("job2/a1/pages/000001.jsonl") == b"pages"
    assert blobs.copy_prefix("job1/a2", "job4/a1") == 0  # the source is gone


def test_delete_removes_one_blob(blobs: Blobs) -> None:
    blobs.put("job1/input", b"in")
    blobs.put("job1/a1/result", b"out")
    assert blobs.delete("job1/input")
    assert not blobs.delete("job1/input")
    assert not blobs.exists("job1/input")
    assert blobs.get("job1/a1/result") == b"out"


def test_check_passes_when_reachable(blobs: Blobs) -> None:
    blobs.check()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", ".."])
def test_keys_cannot_escape_the_root(key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        check_key(key)


def test_s3_failures_are_storage_errors(s3_endpoint: str) -> None:
    unreachable = S3Blobs("nope", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageError):
        unreachable.put("k", b"x")
    missing_bucket = S3Blobs("no-such-bucket-here", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="does not exist"):
        missing_bucket.check()


def test_s3_connection_lost_mid_download_is_a_storage_error(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset while the body streams is as transient as one before it: the job is retried,
    not failed as an internal error."""
    blobs = S3Blobs(s3_bucket, endpoint_url=s3_endpoint)
    blobs.put("job1/input", b"x" * 100)
    real_get = blobs.client.get_object

    def cut_off(**kwargs: Any) -> Any:
        answer = real_get(**kwargs)
        body = answer["Body"]

        def chunks(size: int) -> Iterator[bytes]:
            yield body.read(10)
            raise ResponseStreamingError(error=ConnectionResetError("reset by peer"))

        monkeypatch.setattr(body, "iter_chunks", chunks)
        return answer

    monkeypatch.setattr(blobs.client, "get_object", cut_off)
    with pytest.raises(StorageError, match="reset by peer"):
        b"".join(blobs.iter_chunks("job1/input"))
    with pytest.raises(StorageError), blobs.local_file("job1/input"):
        pass


def test_s3_files_it_could_not_delete_are_an_error(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeleteObjects answers 200 even when it kept some files (no permission, an object
    lock): retention must not count them as removed."""
    blobs = S3Blobs(s3_bucket, endpoint_url=s3_endpoint)
    blobs.put("job1/input", b"x")
    blobs.put("job1/a1/result", b"y")

    def refuse(**kwargs: Any) -> Any:
        return {"Errors": [{"Key": "job1/input", "Code": "AccessDenied", "Message": "no"}]}

    monkeypatch.setattr(blobs.client, "delete_objects", refuse)
    with pytest.raises(
        StorageError, match="kept 1 of 2 files under job1: job1/input: AccessDenied"
    ):
        blobs.delete_prefix("job1")
    monkeypatch.undo()
    assert blobs.delete_prefix("job1") == 2
    assert not blobs.exists("job1/input")


def test_an_s3_download_is_a_scratch_file_of_this_process(s3_endpoint: str, s3_bucket: str) -> None:
    """Named so that, if this process is killed with it, the next worker removes it."""
    blobs = S3Blobs(s3_bucket, endpoint_url=s3_endpoint)
    blobs.put("job1/input", b"%PDF-1.7\n")
    with blobs.local_file("job1/input") as path:
        assert path.name.startswith(f"pdfq-{os.getpid()}-blob-")
        assert path.read_bytes() == b"%PDF-1.7\n"
    assert not path.exists()
