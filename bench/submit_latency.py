"""Submission and status-read latency while the worker pool is busy parsing.

16 concurrent clients upload a 200 KB PDF (and read job status) while long documents keep
every worker process busy, so the API competes with real extraction for the CPU. Two loads:

* paced: each client submits every ``--interval`` seconds (a steady 16 x 1/interval per s);
* saturating: each client submits again as soon as its previous answer arrives, so latency
  then measures the API's capacity (latency = clients / throughput).

Each run also reports the API process's CPU time per upload and status read: when that
approaches one core at the paced rate, the API's own queue decides the tail.

    .venv/bin/python -m bench.submit_latency [--requests 800] [--clients 16] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from tests.samples import grid_pdf, text_pdf

from bench.harness import (
    cpu_seconds,
    median,
    percentile,
    report_file_creation,
    run_clients,
    server,
    submit,
    summary_ms,
)


def pdf_of_size(target: int) -> bytes:
    pages = 10
    while len(data := text_pdf(pages=pages)) < target:
        pages = int(pages * target / len(data)) + 1
    return data


async def one_run(
    url: str, data: bytes, requests: int, clients: int, interval: float
) -> tuple[list[float], list[float], float]:
    submits: list[float] = []
    reads: list[float] = []
    async with aiohttp.ClientSession(url) as session:
        # Keep every worker busy for the whole run: big table-heavy documents.
        for _ in range(4):
            await submit(session, grid_pdf(pages=150), "busy.pdf")
    ids: list[str] = []

    began = time.perf_counter()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        if interval:  # paced: request i is due at an even spacing of interval / clients
            await asyncio.sleep(max(0.0, began + i * interval / clients - time.perf_counter()))
        started = time.perf_counter()
        job = await submit(session, data, f"{i}.pdf")
        submits.append(time.perf_counter() - started)
        ids.append(job["id"])
        started = time.perf_counter()
        async with session.get(f"/v1/jobs/{ids[len(ids) // 2]}") as response:
            await response.read()
            assert response.status == 200
        reads.append(time.perf_counter() - started)

    await run_clients(requests, clients, one, url)
    return submits, reads, requests / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = pdf_of_size(200_000)
    report_file_creation()
    print(f"document: {len(data) / 1000:.0f} KB, {args.clients} clients, pool busy")
    for label, interval in (("paced", args.interval), ("saturating", 0.0)):
        p99_submit, p99_read, rates = [], [], []
        for run in range(args.runs):
            # A fresh server each run: the backlog of busy work must not grow across runs.
            with server() as (url, process):
                api_before = cpu_seconds(process.pid)
                submits, reads, rate = asyncio.run(
                    one_run(url, data, args.requests, args.clients, interval)
                )
                api_ms = (cpu_seconds(process.pid) - api_before) / args.requests * 1000
            p99_submit.append(percentile(submits, 99))
            p99_read.append(percentile(reads, 99))
            rates.append(rate)
            print(f"{label} run {run + 1} ({rate:.0f} submits/s): submit {summary_ms(submits)}")
            print(f"    status read {summary_ms(reads)}")
            print(f"    API process CPU per upload and status read: {api_ms:.2f} ms")
        print(
            f"{label}: median over {args.runs} runs: {median(rates):.0f} submits/s, "
            f"submit p99 {median(p99_submit) * 1000:.1f} ms, "
            f"status read p99 {median(p99_read) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
