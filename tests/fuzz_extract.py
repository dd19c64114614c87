"""Hypothesis-driven fuzzing of ``extract/``: mutated PDFs must end in a result or a clean
pdfq error, never another exception (run in its own process by tests/integration/test_fuzz.py,
so that a crash of the C libraries is reported instead of taking pytest down).

``python -m tests.fuzz_extract --examples N`` prints ``fuzzed N documents`` and the count of
each outcome, and exits non-zero on the first unclean one.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdfq.errors import PdfqError
from pdfq.extract.document import Limits, extract_document
from tests import hostile, samples

TOKENS = [
    b"obj", b"endobj", b"stream", b"endstream", b"<<", b">>", b"[", b"]", b"/Length 99999999",
    b"/Filter /FlateDecode", b"/Type /Page", b"/Kids [1 0 R]", b"9999999999 0 R", b"-1",
    b"/Count -5", b"%%EOF", b"xref", b"trailer", b"(\\", b"<ff", b"/JS (x)", b"\x00" * 64,
]  # fmt: skip
LIMITS = Limits(max_pages=200, max_stream_bytes=32 * 1024 * 1024, ocr_max_pixels=4_000_000)


def seeds() -> list[bytes]:
    chosen = {"javascript-open-action", "launch-and-uri", "xfa-form", "object-loop"}
    return [
        samples.report_pdf(pages=2),
        samples.grid_pdf(pages=1, rows=8, cols=4),
        samples.text_pdf(pages=2, words_per_page=60),
        *(h.data for h in hostile.hostile_set() if h.name in chosen),
    ]


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[max(at, 16) :]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "duplicate":
            size = draw(st.integers(1, 2000))
            data[at:at] = data[at : at + size]
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 500))]
    return bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pdfq-fuzz-") as folder:
        return _fuzz(Path(folder) / "fuzzed.pdf", args.examples)


def _fuzz(target: Path, examples: int) -> int:
    outcomes: collections.Counter[str] = collections.Counter()

    @given(data=mutated(seeds()))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def one(data: bytes) -> None:
        target.write_bytes(data)
        try:
            extract_document(target, limits=LIMITS)
            outcomes["ok"] += 1
        except PdfqError as exc:
            outcomes[exc.code.value] += 1

    one()
    total = sum(outcomes.values())
    sys.stdout.write(f"fuzzed {total} documents: {json.dumps(dict(sorted(outcomes.items())))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
