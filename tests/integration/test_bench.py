"""The benchmark tools still run: the worker-overhead benchmark end to end, on a tiny input,
the distributed benchmark's stand-in for autovacuum and its paired single-job latencies."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from bench import distributed
from bench.harness import server
from sqlalchemy import text

from pdfq.store import Database
from pdfq.store.migrate import autovacuum_off
from tests import samples

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_overhead_benchmark_runs_and_cleans_up_on_exit(tmp_path: Path) -> None:
    folder = tmp_path / "bench-data"
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker_overhead", "--pages", "2", "--jobs", "3"],
        cwd=ROOT,
        env={**os.environ, "PDFQ_BENCH_DATA": str(folder), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(rf"creating a folder and a file under {folder}: \d+ us of CPU", done.stdout)
    figures = re.search(
        r"extraction ([\d.]+) ms, whole job ([\d.]+) ms of CPU .* overhead (-?[\d.]+) ms per job",
        done.stdout,
    )
    assert figures, done.stdout
    extraction, job, overhead = map(float, figures.groups())
    assert extraction > 0
    assert job > 0
    assert abs(job - extraction - overhead) < 0.02
    # Its scratch folders (the probe's and the store's) are removed when the process exits.
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


def test_the_distributed_benchmark_vacuums_where_autovacuum_is_off(
    pg: Database, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(distributed, "VACUUM_EVERY_SECONDS", 0.2)
    with distributed.vacuumed(pg_url):
        time.sleep(1.0)
    with pg.read() as conn:
        vacuumed = conn.execute(
            text(
                "SELECT relname, last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
                "FROM pg_stat_user_tables WHERE relname IN ('jobs', 'chunks')"
            )
        ).all()
    # Where autovacuum runs, the benchmark leaves the tables to it.
    off = autovacuum_off(pg)
    assert dict(vacuumed) == {"jobs": off, "chunks": off}


@pytest.mark.slow
def test_paired_latencies_alternate_between_two_running_servers() -> None:
    with server(PDFQ_WORKERS="1") as (first, _), server(PDFQ_WORKERS="1") as (second, _):
        times = asyncio.run(
            distributed.paired_latency(first, second, samples.text_pdf(pages=1), 4, warm_up=1)
        )
        jobs = [httpx.get(f"{url}/v1/jobs").json()["items"] for url in (first, second)]
    assert [len(t) for t in times] == [4, 4]
    assert all(0 < t < 30 for t in (*times[0], *times[1]))
    assert [len(j) for j in jobs] == [5, 5]  # warm-up and measured, each on its own server
    assert all(job["status"] == "succeeded" for j in jobs for job in j)
