"""Pipeline throughput on born-digital PDFs: the whole service against a raw library loop.

The baseline is the same extraction (``extract_document``: safety scan, pdfium text layer,
tables, Markdown, OCR of the pages without a text layer) called in a plain loop in as many
processes as the service has workers, on the same files and the same cores. The service run
submits the files over HTTP and waits for every job: its pages/s over the baseline's is the
ratio reported.

CPU speed drifts a lot on shared machines, so the two are measured in many short alternating
rounds (baseline, then service, on the same documents) and the median ratio is reported.

    .venv/bin/python -m bench.pipeline_throughput [--kind text|report] [--docs 16] [--rounds 9]

``text``: pages of plain prose (the cheapest pages, where service overhead shows most);
``report``: headings, lists and a ruled table on every page (the table finder runs);
``real``: the 60 real files of ``bench.real_documents`` (``freeculture.pdf`` whole), each
job's result JSON fetched as a client would.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from pathlib import Path

import aiohttp
from tests.samples import report_pdf, text_pdf

from bench.harness import (
    median,
    report_file_creation,
    run_clients,
    scratch_folder,
    server,
    submit,
    wait_done,
)
from bench.real_documents import FILES, corpus_files
from pdfq.config import Settings
from pdfq.extract.document import extract_document
from pdfq.extract.ocr import OcrChain

_OCR: list[OcrChain] = []


def _extract_all(paths: list[str]) -> int:
    # The service OCRs pages without a text layer: so does the baseline, with the same chain
    # (built once per process, as a worker's is).
    if not _OCR:
        _OCR.append(OcrChain(Settings()))
    return sum(len(extract_document(Path(p), ocr=_OCR[0]).pages) for p in paths)


def raw_pages_per_second(paths: list[Path], processes: int) -> float:
    """The same files extracted by ``processes`` plain processes (no service)."""
    shares = [[str(p) for p in paths[i::processes]] for i in range(processes)]
    with multiprocessing.get_context("forkserver").Pool(processes) as pool:
        pool.map(_extract_all, [[str(paths[0])]] * processes)  # warm imports
        started = time.perf_counter()
        pages = sum(pool.map(_extract_all, shares))
        return pages / (time.perf_counter() - started)


async def service_pages_per_second(url: str, documents: list[bytes]) -> float:
    pages = 0

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal pages
        job = await wait_done(session, (await submit(session, documents[i]))["id"])
        if job["status"] != "succeeded":
            raise RuntimeError(f"job failed: {job}")
        async with session.get(f"/v1/jobs/{job['id']}/result") as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"result: {response.status}")
        pages += job["progress"]["pages_done"]

    started = time.perf_counter()
    await run_clients(len(documents), 8, one, url)
    return pages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["text", "report", "real"], default="text")
    parser.add_argument("--docs", type=int, default=16, help="documents per round")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    workers = len(os.sched_getaffinity(0))
    if args.kind == "text":
        documents = [text_pdf(pages=args.pages) for _ in range(args.docs)]
    elif args.kind == "report":
        documents = [report_pdf(pages=args.pages, title=f"Report {i}") for i in range(args.docs)]
    else:
        files, missing = corpus_files(FILES)
        if missing:
            raise SystemExit(f"missing from the corpus: {', '.join(missing)}")
        documents = [path.read_bytes() for path in files]
    ratios = []
    report_file_creation()
    tmp = scratch_folder("files-")
    paths = []
    for i, data in enumerate(documents):
        path = tmp / f"{i}.pdf"
        path.write_bytes(data)
        paths.append(path)
    with server(PDFQ_WORKERS=str(workers)) as (url, _process):
        asyncio.run(service_pages_per_second(url, documents[:2]))  # warm the workers
        for run in range(args.rounds):
            raw = raw_pages_per_second(paths, workers)
            service = asyncio.run(service_pages_per_second(url, documents))
            ratios.append(service / raw)
            print(
                f"round {run + 1}: raw loop {raw:.0f} pages/s, service {service:.0f} pages/s, "
                f"ratio {service / raw:.2f}"
            )
    print(
        f"median ratio over {args.rounds} rounds: {median(ratios):.2f} "
        f"({args.kind}: {len(documents)} documents, {workers} processes each side)"
    )


if __name__ == "__main__":
    main()
