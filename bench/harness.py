"""Benchmark helpers: start a real `pdfq serve`, load it from asyncio clients, summarise.

Absolute times on shared machines are noisy; every benchmark therefore reports ratios
against a baseline measured in the same run, and medians over repeated runs.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

BENCH_DATA = Path(
    os.environ.get("PDFQ_BENCH_DATA") or Path(__file__).resolve().parent.parent / ".bench-data"
)
"""Where benchmark servers keep their data folders (``PDFQ_BENCH_DATA`` to choose)."""
DATA_DIRS: dict[str, Path] = {}
"""The data folder of each running benchmark server, by URL."""
_LEFT_OVER: list[Path] = []


def scratch_folder(prefix: str) -> Path:
    """A new folder under :data:`BENCH_DATA`, removed when this process exits, not before.

    On ext4 without a journal (these machines' disks), the inode allocator skips every inode
    freed in the last minute (the last six while its table block is dirty): after a few
    thousand files are deleted, each new file or folder nearby costs a millisecond of kernel
    CPU instead of 60 us. A server's data folder removed right after its run would bill
    that to the next run of the same benchmark (the embedded run after the distributed one).
    """
    BENCH_DATA.mkdir(parents=True, exist_ok=True)
    if not _LEFT_OVER:
        atexit.register(_remove_left_over)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=BENCH_DATA))
    _LEFT_OVER.append(folder)
    return folder


def _remove_left_over() -> None:
    for folder in _LEFT_OVER:
        shutil.rmtree(folder, ignore_errors=True)


def file_creation_us(samples: int = 300) -> float:
    """Kernel and user CPU, in microseconds, to create a folder and a file in it under
    :data:`BENCH_DATA` (what each upload and each result costs the filesystem). About 60 us
    on a healthy filesystem; much more means recent mass deletions there (see
    :func:`scratch_folder`) and service figures that carry a cost that is not pdfq's."""
    folder = scratch_folder("probe-")
    started = time.process_time()
    for i in range(samples):
        os.mkdir(folder / str(i))
        with open(folder / str(i) / "file", "wb"):
            pass
    return (time.process_time() - started) / samples * 1e6


def report_file_creation() -> None:
    """Print :func:`file_creation_us` with the benchmark's figures."""
    cost = file_creation_us()
    note = " (slow: many files were deleted there lately)" if cost > 200 else ""
    print(f"creating a folder and a file under {BENCH_DATA}: {cost:.0f} us of CPU{note}")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.1f}ms p90={percentile(ms, 90):.1f}ms "
        f"p99={percentile(ms, 99):.1f}ms max={max(ms):.1f}ms"
    )


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """CPU time of a process (and, optionally, of its children that have exited)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the fork server and the worker processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found += [int(entry), *children(int(entry))]
    return found


@contextmanager
def server(**env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `pdfq serve` in a fresh data folder; yields its URL and process."""
    tmp = scratch_folder("run-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {
        **os.environ,
        "PDFQ_DATA_DIR": str(tmp / "data"),
        "PDFQ_PORT": str(port),
        "PDFQ_LOG_LEVEL": "warning",
        "PDFQ_LOG_FORMAT": "json",
        **env,
    }
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "pdfq.cli", "serve", "--no-access-log"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    DATA_DIRS[url] = tmp / "data"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError((tmp / "server.log").read_text()[-2000:])
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


async def run_clients(
    count: int,
    clients: int,
    one: Callable[[aiohttp.ClientSession, int], Awaitable[Any]],
    url: str,
) -> list[Any]:
    """Run ``one(session, i)`` for i in range(count) with ``clients`` concurrent workers.

    Load comes from aiohttp: the generator shares the machine it measures, and httpx's async
    client costs several milliseconds of CPU per request here (aiohttp a fraction of that).
    """
    results: list[Any] = [None] * count
    counter = iter(range(count))
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for i in counter:
                results[i] = await one(session, i)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return results


def pdf_form(data: bytes, name: str = "doc.pdf") -> aiohttp.FormData:
    form = aiohttp.FormData()
    # The benchmarks send the same files again and again to measure reading them: without
    # this, every repeat would be answered from the first result (deduplication).
    form.add_field("dedupe", "false")
    form.add_field("file", data, filename=name, content_type="application/pdf")
    return form


async def submit(
    session: aiohttp.ClientSession, data: bytes, name: str = "doc.pdf"
) -> dict[str, Any]:
    async with session.post("/v1/jobs", data=pdf_form(data, name)) as response:
        job: dict[str, Any] = await response.json()
        if response.status != 202:
            raise RuntimeError(f"submit failed: {response.status} {job}")
        return job


async def wait_done(session: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    """Wait for the job to end with the API's long poll (no busy polling)."""
    while True:
        async with session.get(f"/v1/jobs/{job_id}", params={"wait": "30"}) as response:
            job: dict[str, Any] = await response.json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job


async def timed_job(session: aiohttp.ClientSession, data: bytes, name: str = "doc.pdf") -> float:
    """Seconds from the upload to ``succeeded`` (long poll); a job that ends otherwise raises."""
    started = time.perf_counter()
    job = await wait_done(session, (await submit(session, data, name))["id"])
    if job["status"] != "succeeded":
        raise RuntimeError(f"job failed: {job}")
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
