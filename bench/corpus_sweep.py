"""Robustness sweep: every real-world PDF of pdf.js's test suite through a real `pdfq serve`.

The corpus (971 files from mozilla/pdf.js's ``test/pdfs``: damaged, fuzzed, exotic fonts and
encodings, encrypted, XFA, huge pages) lives outside the repository, in
``../shared/corpora/pdfjs`` relative to it (``PDFQ_CORPUS_PDFJS`` to point elsewhere); its
files are read from there and never copied in.

Each file is uploaded over HTTP (``dedupe=false``, a bounded number in flight), its job is
followed with the long poll until it ends, and the JSON result of every succeeded job is
fetched. What is measured:

* the final status of every file (``succeeded``, ``failed``, ``canceled``; ``rejected`` for
  an upload refused on arrival) and the count per error code, each checked against the stable
  codes of ``ErrorCode`` (docs/api.md);
* every ``internal`` failure, with the file's name and the message: a bug, never an answer;
* files still not terminal ``--timeout-per-file`` seconds after their job started running
  (``stuck``; they are canceled so they stop holding a worker);
* every HTTP 5xx answer, on the upload, the status polls or the result fetch;
* how many succeeded files and pages carry page ``warnings``, and the commonest warnings
  (numbers replaced by ``#``);
* total wall time, pages read, and the slowest files.

The exit code is 1 when there is any ``internal`` failure, stuck file, 5xx answer, unknown
error code or transport failure (the connection to the server broke).

    .venv/bin/python -m bench.corpus_sweep [--workers 2] [--limit N] [--timeout-per-file S]
        [--job-time-limit S] [--in-flight 4] [--json out.json]

``--job-time-limit`` sets the server's ``PDFQ_JOB_TIME_LIMIT_SECONDS`` (grace
``PDFQ_JOB_TIME_LIMIT_GRACE_SECONDS`` = a third of it, one attempt): a file slower than that
then fails ``timeout``, a stable code, instead of counting as stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import DATA_DIRS, run_clients, server
from pdfq.domain import ErrorCode

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPOSITORY / ".." / "shared" / "corpora" / "pdfjs"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
JOB_CODES = frozenset(
    {
        ErrorCode.NOT_A_PDF,
        ErrorCode.EMPTY_FILE,
        ErrorCode.TOO_LARGE,
        ErrorCode.TOO_MANY_PAGES,
        ErrorCode.ENCRYPTED,
        ErrorCode.MALFORMED_PDF,
        ErrorCode.UNSAFE_PDF,
        ErrorCode.TIMEOUT,
        ErrorCode.WORKER_LOST,
        ErrorCode.OCR_FAILED,
        ErrorCode.UNSUPPORTED_TYPE,
        ErrorCode.STORAGE_ERROR,
        ErrorCode.CANCELED,
        ErrorCode.INTERNAL,
    }
)
"""The codes a job (or a refused upload) may end with: the first group of ``ErrorCode``."""
STABLE_CODES = frozenset(code.value for code in ErrorCode)
POLL_SECONDS = 5
"""Long-poll length: how often a running job's clock is looked at."""


def corpus_dir() -> Path:
    """The pdf.js corpus folder (``PDFQ_CORPUS_PDFJS``, else ``../shared/corpora/pdfjs``)."""
    chosen = os.environ.get("PDFQ_CORPUS_PDFJS")
    return Path(chosen) if chosen else DEFAULT_CORPUS.resolve()


def corpus_files(folder: Path, limit: int | None = None) -> list[Path]:
    """The corpus's PDFs, sorted by name (the first ``limit`` of them)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".pdf")
    return files[:limit] if limit else files


def server_env(workers: int, job_time_limit: float | None = None) -> dict[str, str]:
    """Environment of the sweep's server: ``workers`` processes, optionally a job time limit
    short enough that a slow file fails ``timeout`` (one attempt) instead of hanging on."""
    env = {"PDFQ_WORKERS": str(workers)}
    if job_time_limit:
        env |= {
            "PDFQ_JOB_TIME_LIMIT_SECONDS": f"{job_time_limit:g}",
            "PDFQ_JOB_TIME_LIMIT_GRACE_SECONDS": f"{max(1.0, job_time_limit / 3):g}",
            "PDFQ_MAX_ATTEMPTS": "1",
        }
    return env


@dataclass
class Outcome:
    """What happened to one file."""

    name: str
    size_bytes: int
    status: str = "error"
    """succeeded, failed, canceled, rejected (refused on upload), stuck, or error (transport)."""
    code: str | None = None
    message: str | None = None
    job_id: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    """From the upload to the job's end (or to giving up on it)."""
    run_seconds: float | None = None
    """From the job's start to its end, as the server recorded them (its run, no queueing)."""
    pages: int = 0
    pages_with_warnings: int = 0
    warnings: list[str] = field(default_factory=list)
    http_5xx: list[str] = field(default_factory=list)


def warning_kind(warning: str) -> str:
    """A warning without its particulars: numbers as ``#``, cut at 70 characters."""
    return re.sub(r"\d+(\.\d+)?", "#", warning)[:70]


@dataclass
class Report:
    """The whole sweep."""

    outcomes: list[Outcome]
    wall_seconds: float
    workers: int
    timeout_per_file: float
    job_time_limit: float | None

    def by_status(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def by_code(self) -> Counter[str]:
        return Counter(o.code for o in self.outcomes if o.code)

    def internal(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code == ErrorCode.INTERNAL]

    def stuck(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "stuck"]

    def errors(self) -> list[Outcome]:
        """Transport failures and answers the sweep could not read."""
        return [o for o in self.outcomes if o.status == "error"]

    def http_5xx(self) -> list[tuple[str, str]]:
        return [(o.name, answer) for o in self.outcomes for answer in o.http_5xx]

    def unknown_codes(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.code and o.code not in JOB_CODES]

    def pages(self) -> int:
        return sum(o.pages for o in self.outcomes)

    def warning_kinds(self) -> Counter[str]:
        return Counter(warning_kind(w) for o in self.outcomes for w in o.warnings)

    def problems(self) -> list[str]:
        """One line per finding that makes the sweep fail (empty: it passed)."""
        lines = [f"internal: {o.name}: {o.message}" for o in self.internal()]
        lines += [f"stuck: {o.name}: {o.message}" for o in self.stuck()]
        lines += [f"5xx: {name}: {answer}" for name, answer in self.http_5xx()]
        lines += [f"unknown code {o.code}: {o.name}: {o.message}" for o in self.unknown_codes()]
        lines += [f"error: {o.name}: {o.message}" for o in self.errors()]
        return lines

    def summary(self) -> dict[str, Any]:
        succeeded = [o for o in self.outcomes if o.status == "succeeded"]
        return {
            "files": len(self.outcomes),
            "wall_seconds": round(self.wall_seconds, 1),
            "workers": self.workers,
            "timeout_per_file": self.timeout_per_file,
            "job_time_limit": self.job_time_limit,
            "pages": self.pages(),
            "by_status": dict(self.by_status().most_common()),
            "by_code": dict(self.by_code().most_common()),
            "internal": [{"file": o.name, "message": o.message} for o in self.internal()],
            "stuck": [{"file": o.name, "message": o.message} for o in self.stuck()],
            "http_5xx": [{"file": n, "answer": a} for n, a in self.http_5xx()],
            "errors": [{"file": o.name, "message": o.message} for o in self.errors()],
            "retried": sum(1 for o in self.outcomes if o.attempts > 1),
            "files_with_warnings": sum(1 for o in succeeded if o.pages_with_warnings),
            "pages_with_warnings": sum(o.pages_with_warnings for o in succeeded),
            "warning_kinds": dict(self.warning_kinds().most_common(15)),
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "files": [asdict(o) for o in self.outcomes]}

    def text(self) -> str:
        s = self.summary()
        lines = [
            f"{s['files']} files, {s['pages']} pages in {s['wall_seconds']} s "
            f"({self.workers} workers, stuck after {self.timeout_per_file:g} s running"
            + (f", job time limit {self.job_time_limit:g} s" if self.job_time_limit else "")
            + ")",
            "status: " + ", ".join(f"{k} {v}" for k, v in s["by_status"].items()),
            "codes: " + (", ".join(f"{k} {v}" for k, v in s["by_code"].items()) or "none"),
            f"retried jobs (attempts > 1): {s['retried']}",
            f"succeeded with page warnings: {s['files_with_warnings']} files, "
            f"{s['pages_with_warnings']} pages",
        ]
        lines += [f"  {count:5d}  {kind}" for kind, count in s["warning_kinds"].items()]
        slowest = sorted(self.outcomes, key=lambda o: o.run_seconds or 0, reverse=True)[:10]
        lines.append(
            "slowest runs: "
            + ", ".join(f"{o.name} {o.run_seconds or 0:.1f} s ({o.status})" for o in slowest)
        )
        problems = self.problems()
        lines.append(f"problems: {len(problems)}")
        lines += [f"  {line}" for line in problems]
        return "\n".join(lines)


async def _request(
    session: aiohttp.ClientSession,
    outcome: Outcome,
    method: str,
    path: str,
    **kwargs: Any,
) -> tuple[int, Any]:
    """One request; its JSON answer (``None`` if not JSON). A 5xx is noted on the outcome."""
    async with session.request(method, path, **kwargs) as response:
        body = await response.read()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if response.status >= 500:
            outcome.http_5xx.append(f"{method} {path}: {response.status} {body[:300]!r}")
        return response.status, payload


def upload_form(data: bytes, name: str) -> aiohttp.FormData:
    """The upload's form: no deduplication (the corpus has duplicates, each is read), the
    file as a stream (aiohttp warns about raw bytes over 1 MiB)."""
    form = aiohttp.FormData()
    form.add_field("dedupe", "false")
    form.add_field("file", io.BytesIO(data), filename=name, content_type="application/pdf")
    return form


async def _upload(session: aiohttp.ClientSession, outcome: Outcome, data: bytes) -> Any:
    """The created job, or ``None`` when the upload was refused (the outcome says why)."""
    for _ in range(20):
        status, answer = await _request(
            session, outcome, "POST", "/v1/jobs", data=upload_form(data, outcome.name)
        )
        if status == 202:
            return answer
        error = (answer.get("error") if isinstance(answer, dict) else None) or {}
        if status == 429:  # not expected with the defaults; wait as told
            await asyncio.sleep(float(error.get("retry_after") or 1))
            continue
        if status >= 500:
            await asyncio.sleep(1)
            continue
        outcome.status, outcome.code = "rejected", error.get("code")
        outcome.message = error.get("message") or f"HTTP {status}: {answer}"
        return None
    outcome.message = "the upload was not accepted after 20 tries"
    return None


async def _follow(
    session: aiohttp.ClientSession,
    outcome: Outcome,
    job_id: str,
    *,
    run_limit: float,
    queued_limit: float,
) -> dict[str, Any] | None:
    """Long-poll the job until it ends; ``None`` when it did not in time (it is canceled)."""
    submitted = time.monotonic()
    running_since: float | None = None
    job: dict[str, Any] = {}
    while True:
        now = time.monotonic()
        clock, limit = (running_since, run_limit) if running_since else (submitted, queued_limit)
        if now - clock > limit:
            state = job.get("status", "unknown")
            progress = job.get("progress") or {}
            outcome.status = "stuck"
            outcome.run_seconds = now - running_since if running_since else None
            outcome.message = (
                f"still {state} after {now - clock:.0f} s "
                f"(pages {progress.get('pages_done')}/{progress.get('pages_total')}, "
                f"attempts {job.get('attempts')})"
            )
            await _request(session, outcome, "POST", f"/v1/jobs/{job_id}/cancel")
            return None
        wait = max(1, min(POLL_SECONDS, round(clock + limit - now)))
        status, answer = await _request(
            session, outcome, "GET", f"/v1/jobs/{job_id}", params={"wait": str(wait)}
        )
        if status >= 500 or not isinstance(answer, dict) or "status" not in answer:
            if status < 500:
                outcome.message = f"unreadable job answer: HTTP {status}: {answer}"
                return None
            await asyncio.sleep(1)
            continue
        job = answer
        if job["status"] in TERMINAL:
            return job
        if job["status"] != "queued" and running_since is None:
            running_since = time.monotonic()
            if job.get("started_at"):  # it may have started up to a poll ago
                began = datetime.fromisoformat(job["started_at"])
                running_since -= max(0.0, (datetime.now(UTC) - began).total_seconds())


async def _read_result(session: aiohttp.ClientSession, outcome: Outcome, job_id: str) -> None:
    status, result = await _request(
        session, outcome, "GET", f"/v1/jobs/{job_id}/result", params={"format": "json"}
    )
    if status != 200 or not isinstance(result, dict):
        if status < 500:
            outcome.status = "error"
            outcome.message = f"result answered HTTP {status}"
        return
    pages = result.get("pages") or []
    outcome.pages = len(pages)
    for page in pages:
        warnings = page.get("warnings") or []
        outcome.pages_with_warnings += bool(warnings)
        outcome.warnings += [str(w) for w in warnings]


async def sweep_file(
    session: aiohttp.ClientSession,
    path: Path,
    *,
    run_limit: float,
    queued_limit: float,
) -> Outcome:
    """Upload one file, follow its job to the end, read its result if it succeeded."""
    data = await asyncio.to_thread(path.read_bytes)
    outcome = Outcome(name=path.name, size_bytes=len(data))
    started = time.monotonic()
    try:
        created = await _upload(session, outcome, data)
        if created is not None:
            outcome.job_id = created["id"]
            job = await _follow(
                session, outcome, created["id"], run_limit=run_limit, queued_limit=queued_limit
            )
            if job is not None:
                outcome.status = job["status"]
                outcome.attempts = int(job.get("attempts") or 0)
                error = job.get("error") or {}
                outcome.code, outcome.message = error.get("code"), error.get("message")
                if job.get("started_at") and job.get("finished_at"):
                    outcome.run_seconds = (
                        datetime.fromisoformat(job["finished_at"])
                        - datetime.fromisoformat(job["started_at"])
                    ).total_seconds()
                if job["status"] == "succeeded":
                    await _read_result(session, outcome, created["id"])
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.status = "error"
        outcome.message = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - started
    return outcome


async def sweep(
    url: str,
    files: Sequence[Path],
    *,
    in_flight: int = 4,
    timeout_per_file: float = 300.0,
    progress: bool = False,
) -> list[Outcome]:
    """Every file through the server at ``url``, ``in_flight`` at a time.

    A job counts as stuck ``timeout_per_file`` seconds after it was first seen running, or
    ``in_flight`` times that after its upload if it never started."""
    done = 0

    async def one(session: aiohttp.ClientSession, i: int) -> Outcome:
        nonlocal done
        outcome = await sweep_file(
            session,
            files[i],
            run_limit=timeout_per_file,
            queued_limit=timeout_per_file * max(2, in_flight),
        )
        done += 1
        if progress and (outcome.status not in ("succeeded", "failed") or done % 50 == 0):
            print(
                f"[{done}/{len(files)}] {outcome.name}: {outcome.status} {outcome.code or ''} "
                f"{outcome.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        return outcome

    outcomes: list[Outcome] = await run_clients(len(files), in_flight, one, url)
    return outcomes


def run_sweep(
    files: Sequence[Path],
    *,
    workers: int = 2,
    in_flight: int = 4,
    timeout_per_file: float = 300.0,
    job_time_limit: float | None = None,
    progress: bool = False,
) -> tuple[Report, Path]:
    """Start a benchmark server, sweep ``files`` through it; the report and its data folder."""
    with server(**server_env(workers, job_time_limit)) as (url, _process):
        started = time.perf_counter()
        outcomes = asyncio.run(
            sweep(
                url,
                files,
                in_flight=in_flight,
                timeout_per_file=timeout_per_file,
                progress=progress,
            )
        )
        wall = time.perf_counter() - started
    report = Report(outcomes, wall, workers, timeout_per_file, job_time_limit)
    return report, DATA_DIRS[url]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--in-flight", type=int, default=4, help="files uploaded at once")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument(
        "--timeout-per-file",
        type=float,
        default=600.0,
        help="seconds a job may run before it counts as stuck",
    )
    parser.add_argument(
        "--job-time-limit",
        type=float,
        default=None,
        help="server job time limit (slower files fail `timeout`); default: the server's",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument(
        "--server-log", type=Path, default=None, help="keep a copy of the server's log here"
    )
    args = parser.parse_args(argv)
    folder = corpus_dir()
    if not folder.is_dir():
        print(f"corpus not found: {folder} (set PDFQ_CORPUS_PDFJS)", file=sys.stderr)
        return 2
    files = corpus_files(folder, args.limit)
    print(f"sweeping {len(files)} files of {folder}", file=sys.stderr)
    report, data_dir = run_sweep(
        files,
        workers=args.workers,
        in_flight=args.in_flight,
        timeout_per_file=args.timeout_per_file,
        job_time_limit=args.job_time_limit,
        progress=True,
    )
    print(report.text())
    if args.server_log:  # the data folder goes when this process exits
        shutil.copyfile(data_dir.parent / "server.log", args.server_log)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=1))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
