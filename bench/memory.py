"""Memory: a 1 GiB upload through the API, and a 1,000-page PDF through one worker.

Resident memory (RSS) is sampled every 20 ms from /proc while the work runs:
* the API process's growth during a streamed 1 GiB upload (target < 64 MiB);
* the peak RSS of the worker process extracting a 1,000-page report with a table on
  every page (target < 400 MiB), and the 352-page ``freeculture.pdf`` of the pdf.js corpus
  (a real book with images; skipped when the corpus is absent).

    .venv/bin/python -m bench.memory [--upload-mib 1024] [--pages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from tests.samples import report_pdf, text_pdf

from bench.harness import children, rss_mib, server, submit, wait_done
from bench.real_documents import CORPUS


class Sampler:
    """Peak RSS of the processes ``pids()`` returns, sampled in a thread."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._done.is_set():
            for pid in self.pids():
                with contextlib.suppress(OSError):  # a process may just have exited
                    self.peak = max(self.peak, rss_mib(pid))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()


async def upload(url: str, size: int) -> None:
    async def body() -> AsyncIterator[bytes]:
        block = b"0" * (1024 * 1024)
        yield b"%PDF-1.7\n"
        for _ in range(size // len(block)):
            yield block

    form = aiohttp.FormData()
    form.add_field("file", body(), filename="big.pdf", content_type="application/pdf")
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession(url, timeout=timeout) as session,
        session.post("/v1/jobs", data=form) as response,
    ):
        job = await response.json()
        if response.status != 202:
            raise RuntimeError(job)


async def one_document(url: str, data: bytes) -> dict[str, object]:
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=900)) as session:
        return await wait_done(session, (await submit(session, data))["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args()
    size = args.upload_mib * 1024 * 1024

    with server(PDFQ_MAX_FILE_BYTES=str(2 * size), PDFQ_WORKERS="1") as (url, process):
        asyncio.run(one_document(url, text_pdf(pages=1)))  # warm every code path first
        before = rss_mib(process.pid)
        started = time.perf_counter()
        with Sampler(lambda: [process.pid]) as api:
            asyncio.run(upload(url, size))
        seconds = time.perf_counter() - started
        print(
            f"upload of {args.upload_mib} MiB in {seconds:.1f} s: API RSS {before:.0f} MiB before, "
            f"peak {api.peak:.0f} MiB, growth {api.peak - before:.1f} MiB (target < 64)"
        )

    document = report_pdf(pages=args.pages)
    with server(PDFQ_WORKERS="1") as (url, process):
        asyncio.run(one_document(url, text_pdf(pages=1)))
        workers = children(process.pid)
        with Sampler(lambda: workers) as pool:
            started = time.perf_counter()
            job = asyncio.run(one_document(url, document))
        seconds = time.perf_counter() - started
        print(
            f"{args.pages}-page report ({len(document) / 1e6:.1f} MB) {job['status']} in "
            f"{seconds:.1f} s: worker peak RSS {pool.peak:.0f} MiB (target < 400)"
        )
        book = CORPUS / "freeculture.pdf"
        if not book.is_file():
            print(f"{book} is absent: the real book is not measured")
            return
        with Sampler(lambda: workers) as pool:
            started = time.perf_counter()
            job = asyncio.run(one_document(url, book.read_bytes()))
        seconds = time.perf_counter() - started
        print(
            f"freeculture.pdf (352 pages) {job['status']} in {seconds:.1f} s: "
            f"worker peak RSS {pool.peak:.0f} MiB (target < 400)"
        )


if __name__ == "__main__":
    main()
