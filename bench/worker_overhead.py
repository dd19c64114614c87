"""The worker's own overhead per job, in one process: a whole job against its extraction.

Runs, alternately and in this one process, ``extract_document`` on a file (the raw library
work) and ``run_job`` on a queued job of the same file (claim, fetch, the same extraction,
page index, result object, finish) against a store and blobs in a scratch folder, and
reports the median CPU time of each. No API, no load generator and no other worker share
the measurement, so it shows the pipeline's own cost with far less noise than the
end-to-end benchmarks (which add the API's and the clients' CPU on the same cores).

    .venv/bin/python -m bench.worker_overhead [--pages 50] [--jobs 40] [--kind text|report]
"""

from __future__ import annotations

import argparse
import time

from tests.helpers import add_job
from tests.samples import report_pdf, text_pdf

from bench.harness import median, report_file_creation, scratch_folder
from pdfq.config import Settings
from pdfq.domain import JobStatus
from pdfq.extract.document import extract_document
from pdfq.logs import configure_logging
from pdfq.store import upgrade
from pdfq.worker.context import build_worker_context
from pdfq.worker.pipeline import run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--kind", choices=["text", "report"], default="text")
    args = parser.parse_args()
    report_file_creation()
    folder = scratch_folder("worker-")
    settings = Settings(data_dir=folder / "data", log_level="warning", log_format="json")
    configure_logging(settings)
    ctx = build_worker_context(settings)
    upgrade(ctx.db)
    data = text_pdf(pages=args.pages) if args.kind == "text" else report_pdf(pages=args.pages)
    path = folder / "document.pdf"
    path.write_bytes(data)
    job_ids = [add_job(ctx, data) for _ in range(args.jobs + 3)]
    raw: list[float] = []
    job: list[float] = []
    for i, job_id in enumerate(job_ids):
        started = time.process_time()
        extract_document(path)
        raw_seconds = time.process_time() - started
        started = time.process_time()
        outcome = run_job(ctx, job_id)
        job_seconds = time.process_time() - started
        if outcome.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"job failed: {outcome}")
        if i >= 3:  # the first ones warm caches and pools
            raw.append(raw_seconds)
            job.append(job_seconds)
    raw_ms, job_ms = median(raw) * 1000, median(job) * 1000
    print(
        f"{args.kind}, {args.pages} pages, {args.jobs} jobs: extraction {raw_ms:.2f} ms, whole job "
        f"{job_ms:.2f} ms of CPU (medians): the worker's own overhead {job_ms - raw_ms:.2f} ms "
        f"per job ({(job_ms - raw_ms) / raw_ms:.1%} of the extraction)"
    )
    ctx.db.dispose()


if __name__ == "__main__":
    main()
