"""The distributed shape on this machine: Celery workers, Redis, PostgreSQL (blobs on local
disk: the test S3 server is no performance reference), against the embedded shape.

1. Small documents: one-page PDFs from 32 concurrent clients, upload → succeeded, on the
   distributed shape and then the embedded one (same client, same documents); reports submit
   p50/p99, documents per second and their ratio, and the CPU per job of the API and workers.
   Then, with both shapes up, one client sends one document at a time to each in turn: the
   upload-to-succeeded time minus the extraction alone is the overhead per job. Alternating
   pairs taken milliseconds apart share the machine's speed of the moment, which on these
   shared machines swings by half within minutes; their median difference is the cost of
   distribution itself.
2. Fan-out: a 1,000-page PDF on one worker process, then on two.

    .venv/bin/python -m bench.distributed [--docs 5000] [--pages 1000] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import aiohttp
import redis
from sqlalchemy import create_engine, text
from tests.samples import text_pdf

from bench.harness import (
    children,
    cpu_seconds,
    median,
    percentile,
    report_file_creation,
    run_clients,
    scratch_folder,
    server,
    submit,
    timed_job,
    wait_done,
)
from bench.small_docs import raw_loop_seconds_per_doc
from pdfq.store import Database
from pdfq.store.migrate import autovacuum_off

POSTGRES = os.environ.get("PDFQ_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("PDFQ_BENCH_REDIS", "redis://127.0.0.1:6379/15")
VACUUM_EVERY_SECONDS = 5.0
# PDFQ_BENCH_VACUUM=0 leaves the database unvacuumed, to measure what that costs.
STAND_IN_VACUUM = os.environ.get("PDFQ_BENCH_VACUUM", "1") != "0"


@contextlib.contextmanager
def vacuumed(url: str) -> Iterator[None]:
    """Where the server's autovacuum is off (as on the machine these figures come from), stand
    in for it: ``VACUUM ANALYZE`` of the queue tables every few seconds, about as often as
    migration 0008's settings have autovacuum visit them at this rate. Its CPU is spent on the
    same cores as everything else, so the figures pay for it."""
    db = Database(url, pool_size=1)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(VACUUM_EVERY_SECONDS):
            with db.read() as conn:  # autocommit on PostgreSQL, as VACUUM needs
                conn.execute(text("VACUUM ANALYZE jobs, chunks"))

    thread = threading.Thread(target=run, name="bench-vacuum", daemon=True)
    if STAND_IN_VACUUM and autovacuum_off(db):
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        db.dispose()


@contextlib.contextmanager
def database() -> Iterator[str]:
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    name = f"pdfq_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def distributed(concurrency: int, **extra: str) -> Iterator[tuple[str, list[int]]]:
    """`pdfq serve` (Celery queue) and one `pdfq worker`; yields the URL and their pids."""
    redis.Redis.from_url(REDIS).flushdb()
    with database() as url:
        env = {
            "PDFQ_QUEUE": "celery",
            "PDFQ_BROKER_URL": REDIS,
            "PDFQ_DATABASE_URL": url,
            **extra,
        }
        blobs = scratch_folder("blobs-")
        env["PDFQ_BLOBS_URL"] = f"file://{blobs}"
        worker_env = {**os.environ, "PDFQ_LOG_LEVEL": "warning", "PDFQ_LOG_FORMAT": "json", **env}
        worker = subprocess.Popen(
            [sys.executable, "-m", "pdfq.cli", "worker", f"--concurrency={concurrency}"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with server(**env) as (api_url, api):
                deadline = time.monotonic() + 60
                while len(children(worker.pid)) < concurrency and time.monotonic() < deadline:
                    time.sleep(0.2)
                with vacuumed(url):
                    yield api_url, [api.pid, worker.pid]
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _tree_cpu(pid: int) -> float:
    total = cpu_seconds(pid, reaped_children=True)
    for child in children(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(child, reaped_children=True)
    return total


async def small_docs(url: str, data: bytes, docs: int, clients: int) -> tuple[float, list[float]]:
    submits: list[float] = []

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        started = time.perf_counter()
        job = await submit(session, data, f"{i}.pdf")
        submits.append(time.perf_counter() - started)
        if (await wait_done(session, job["id"]))["status"] != "succeeded":
            raise RuntimeError(f"job {job['id']} failed")

    started = time.perf_counter()
    await run_clients(docs, clients, one, url)
    return docs / (time.perf_counter() - started), submits


async def paired_latency(
    first: str, second: str, data: bytes, docs: int = 300, warm_up: int = 30
) -> tuple[list[float], list[float]]:
    """Upload-to-succeeded times of one client sending one document at a time to each server
    in turn (which one goes first alternates), after ``warm_up`` documents to each."""
    times: tuple[list[float], list[float]] = ([], [])
    async with (
        aiohttp.ClientSession(first) as one,
        aiohttp.ClientSession(second) as two,
    ):
        for session in (one, two):
            for _ in range(warm_up):
                await timed_job(session, data)
        for i in range(docs):
            order = ((one, times[0]), (two, times[1]))
            for session, taken in order if i % 2 == 0 else order[::-1]:
                taken.append(await timed_job(session, data))
    return times


def measure(
    url: str, pids: list[int], data: bytes, docs: int, clients: int
) -> tuple[float, list[float], float]:
    asyncio.run(small_docs(url, data, 100, clients))  # warm up
    before = sum(_tree_cpu(p) for p in pids)
    rate, submits = asyncio.run(small_docs(url, data, docs, clients))
    cpu_ms = (sum(_tree_cpu(p) for p in pids) - before) / docs * 1000
    return rate, submits, cpu_ms


async def one_document(url: str, data: bytes) -> float:
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(url, timeout=timeout) as session:
        return await timed_job(session, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument(
        "--concurrency", type=int, help="Celery pool processes (default: CPU count, as embedded)"
    )
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    report_file_creation()
    postgres = Database(f"{POSTGRES}/postgres", pool_size=1)
    if autovacuum_off(postgres):
        print(
            f"PostgreSQL's autovacuum is off here: the benchmark runs VACUUM ANALYZE of jobs "
            f"and chunks every {VACUUM_EVERY_SECONDS:.0f} s in its stead"
            if STAND_IN_VACUUM
            else "PostgreSQL's autovacuum is off here, and PDFQ_BENCH_VACUUM=0: nothing vacuums"
        )
    postgres.dispose()

    if not args.skip_small:
        data = text_pdf(pages=1, words_per_page=200)
        raw_ms = raw_loop_seconds_per_doc(data) * 1000
        with distributed(args.concurrency or cores) as (d_url, pids):
            d_rate, d_submits, d_cpu = measure(d_url, pids, data, args.docs, args.clients)
            # The distributed shape stays up (idle: its sweeper, and the vacuum stand-in every
            # few seconds) while the embedded one is loaded, for the paired latencies below,
            # taken on both after their load.
            with server(PDFQ_WORKERS=str(cores)) as (e_url, api):
                e_rate, e_submits, e_cpu = measure(e_url, [api.pid], data, args.docs, args.clients)
                d_times, e_times = asyncio.run(paired_latency(d_url, e_url, data))
        d_latency, e_latency = median(d_times), median(e_times)
        extra = median([d - e for d, e in zip(d_times, e_times, strict=True)])
        print(
            f"one client, one document at a time, to each shape in turn ({len(d_times)} each): "
            f"upload-to-succeeded median distributed {d_latency * 1000:.1f} ms, embedded "
            f"{e_latency * 1000:.1f} ms; extraction alone {raw_ms:.1f} ms: per-job overhead "
            f"distributed {d_latency * 1000 - raw_ms:.1f} ms, embedded "
            f"{e_latency * 1000 - raw_ms:.1f} ms; distributed minus embedded, median of the "
            f"pairs {extra * 1000:+.1f} ms"
        )
        for label, rate, submits, cpu in (
            ("distributed", d_rate, d_submits, d_cpu),
            ("embedded", e_rate, e_submits, e_cpu),
        ):
            print(
                f"{label}: {rate:.1f} docs/s, submit p50 {percentile(submits, 50) * 1000:.1f} ms "
                f"p99 {percentile(submits, 99) * 1000:.1f} ms, CPU per job {cpu:.1f} ms "
                f"(overhead beyond extraction {cpu - raw_ms:.1f} ms)"
            )
        print(
            f"distributed / embedded docs/s: {d_rate / e_rate:.2f}; extra CPU per job in the "
            f"distributed shape: {d_cpu - e_cpu:.1f} ms ({args.docs} docs, {args.clients} clients)"
        )

    document = text_pdf(pages=args.pages)
    times = {}
    for workers in (1, 2):
        with distributed(workers, PDFQ_FANOUT_PAGES="100", PDFQ_FANOUT_CHUNK_PAGES="50") as (
            url,
            _,
        ):
            times[workers] = median([asyncio.run(one_document(url, document)) for _ in range(3)])
        print(
            f"{args.pages}-page document with {workers} worker process(es): {times[workers]:.1f} s"
        )
    print(f"fan-out: two workers take {times[2] / times[1]:.2f} of one worker's time")


if __name__ == "__main__":
    main()
