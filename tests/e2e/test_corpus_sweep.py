"""Every PDF of pdf.js's test suite through a real `pdfq serve`: none may break the service.

The sweep itself is ``bench.corpus_sweep`` (one place for the logic); this test runs it on the
whole corpus against a `pdfq serve` with two workers in a temporary data folder. A file may
succeed or fail with any stable job code, but never ``internal`` (a bug), never stay unfinished
(stuck), and no request may be answered 5xx.

Time: a job time limit of :data:`JOB_TIME_LIMIT` seconds (one attempt) bounds each file, so
a slow one ends ``timeout`` (a stable code, listed in the printed report) and the whole sweep
fits CI's budget. On 2 cores the sweep took about 2 minutes (two files ending ``timeout``);
without the limit one file ran 77 s and the sweep 3 to 7 minutes, depending on the extractor.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bench.corpus_sweep import (
    JOB_CODES,
    Report,
    corpus_dir,
    corpus_files,
    server_env,
    sweep,
)

from tests.helpers import LiveServer

pytestmark = pytest.mark.slow

WORKERS = 2
IN_FLIGHT = 4
JOB_TIME_LIMIT = 30.0
"""Server-side limit of one job; its hard limit (the worker is killed) is a third later."""
STUCK_AFTER = JOB_TIME_LIMIT * 4 / 3 + 30
"""A job still running this long after it started is stuck: past the hard limit and then
some, the service itself should have ended it."""
ENDED = frozenset({"succeeded", "failed", "canceled", "rejected"})
"""Final outcomes: a job's terminal states, or an upload refused on arrival with its code."""


@pytest.mark.timeout(600)
async def test_every_corpus_file_ends_with_a_stable_outcome(tmp_path: Path) -> None:
    folder = corpus_dir()
    if not folder.is_dir():
        pytest.skip(f"the pdf.js corpus is not at {folder} (set PDFQ_CORPUS_PDFJS to its folder)")
    files = corpus_files(folder)
    live = LiveServer(tmp_path / "data", **server_env(WORKERS, JOB_TIME_LIMIT)).start()
    try:
        started = time.perf_counter()
        outcomes = await sweep(live.url, files, in_flight=IN_FLIGHT, timeout_per_file=STUCK_AFTER)
        report = Report(
            outcomes, time.perf_counter() - started, WORKERS, STUCK_AFTER, JOB_TIME_LIMIT
        )
    finally:
        live.kill_group()
    print(report.text())

    assert len(report.outcomes) == len(files)
    not_terminal = [o.name for o in report.outcomes if o.status not in ENDED]
    assert not not_terminal, f"not terminal: {not_terminal}\n{report.text()}"
    unknown = [(o.name, o.code) for o in report.outcomes if o.code and o.code not in JOB_CODES]
    assert not unknown, f"codes outside the stable list: {unknown}"
    assert not report.internal(), "internal failures:\n" + "\n".join(
        f"{o.name}: {o.message}" for o in report.internal()
    )
    assert not report.stuck(), f"stuck: {[(o.name, o.message) for o in report.stuck()]}"
    assert not report.http_5xx(), f"5xx answers: {report.http_5xx()}"
    assert not report.errors(), (
        f"transport errors: {[(o.name, o.message) for o in report.errors()]}"
    )
