"""Small documents end to end: one-page PDFs through HTTP, upload → succeeded.

Reports documents per second with 32 concurrent clients and the per-job overhead of the
service (store, blobs, dispatch) against the same extraction run in a raw in-process loop.

    .venv/bin/python -m bench.small_docs [--docs 1000] [--clients 32] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import aiohttp
from tests.samples import text_pdf

from bench.harness import (
    children,
    cpu_seconds,
    median,
    report_file_creation,
    run_clients,
    server,
    timed_job,
)
from pdfq.extract.document import extract_document


def raw_loop_seconds_per_doc(data: bytes, repeats: int = 300) -> float:
    """The same extraction, in this process, with no service around it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.pdf"
        path.write_bytes(data)
        extract_document(path)
        started = time.perf_counter()
        for _ in range(repeats):
            extract_document(path)
        return (time.perf_counter() - started) / repeats


async def one_run(url: str, data: bytes, docs: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        latencies.append(await timed_job(session, data, f"{i}.pdf"))

    started = time.perf_counter()
    await run_clients(docs, clients, one, url)
    return docs / (time.perf_counter() - started), latencies


def _pool_cpu_seconds(api_pid: int) -> float:
    """Worker processes' CPU, counting those replaced meanwhile (reaped by the fork server)."""
    total = 0.0
    for pid in children(api_pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid, reaped_children=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = text_pdf(pages=1, words_per_page=200)
    raw = raw_loop_seconds_per_doc(data)
    report_file_creation()
    rates, api_ms, worker_ms = [], [], []
    with server() as (url, process):
        asyncio.run(one_run(url, data, 50, args.clients))  # warm up
        for run in range(args.runs):
            api_before = cpu_seconds(process.pid)
            pool_before = _pool_cpu_seconds(process.pid)
            rate, latencies = asyncio.run(one_run(url, data, args.docs, args.clients))
            api_ms.append((cpu_seconds(process.pid) - api_before) / args.docs * 1000)
            worker_ms.append((_pool_cpu_seconds(process.pid) - pool_before) / args.docs * 1000)
            rates.append(rate)
            print(
                f"run {run + 1}: {rate:.1f} docs/s, median upload-to-succeeded "
                f"{median(latencies) * 1000:.0f} ms, CPU per job: API {api_ms[-1]:.1f} ms, "
                f"worker {worker_ms[-1]:.1f} ms"
            )
    print(f"raw extraction in one process: {raw * 1000:.2f} ms per document")
    print(
        f"end to end: median {median(rates):.1f} docs/s ({args.runs} runs of {args.docs} "
        f"docs, {args.clients} clients)"
    )
    print(
        f"per-job overhead: worker {median(worker_ms) - raw * 1000:.1f} ms beyond extraction "
        f"(claim, store, blobs, dispatch); API {median(api_ms):.1f} ms (upload and long poll)"
    )


if __name__ == "__main__":
    main()
