"""Mutated PDFs through extract/ (Hypothesis, in a child process: see tests/fuzz_extract.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mutated_pdfs_end_in_a_result_or_a_clean_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_extract", "--examples", "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    match = re.search(r"fuzzed (\d+) documents: (\{.*\})", run.stdout)
    assert match, run.stdout
    assert int(match.group(1)) == 300
    outcomes = json.loads(match.group(2))
    assert set(outcomes) <= {"ok", "malformed_pdf", "encrypted", "unsafe_pdf", "too_many_pages"}
    assert outcomes.get("ok", 0) > 0  # the mutations reach deep: some documents still read
    assert outcomes.get("malformed_pdf", 0) > 0
